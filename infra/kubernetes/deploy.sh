#!/usr/bin/env bash
# Deploys FACTSWAY and incident-bot to one environment from its kustomize overlay.
#
#   infra/kubernetes/deploy.sh staging|production [--dry-run | --database-only]
#
# 1. Refuses unless the current kube context is the environment's (factsway-staging or
#    factsway-production; FACTSWAY_KUBE_CONTEXT overrides), and pins every call to it.
# 2. Applies the namespace, network policies and PostgreSQL (label factsway.io/deploy-stage=database).
# 3. Creates the Secret postgres-credentials if it is absent: from overlays/<env>/secrets/postgres.env
#    when that file exists, else with a random password. Creates or updates incident-bot-secrets
#    from overlays/<env>/secrets/incident-bot.env when that file exists. Creates the Secret
#    incident-bot-database (the bot's own role: key password, and its store's URL: key url) if
#    it is absent: with the password from overlays/<env>/secrets/incident-bot-database.env
#    when that file exists, else a random one. Secret values never appear on a command line:
#    kubectl reads them from the file or from standard input.
# 4. Waits for PostgreSQL, runs the migration Jobs db-migrate (the platform's schema) and
#    incident-bot-db (the bot's role and database), deleting the previous runs, and waits.
#    --database-only stops here (moving the bot from SQLite: docs/operations.md).
# 5. Applies everything (`kubectl apply -k`), waits for every rollout and prints the status.
#
# --dry-run renders and sends everything with --dry-run=server (client when the namespace does
# not exist yet), creates no Secret, runs no migration and waits for nothing.
#
# Environment: FACTSWAY_KUBE_CONTEXT (expected context), DEPLOY_TIMEOUT (per wait, default 300s).
set -euo pipefail

usage() {
	echo "usage: ${BASH_SOURCE[0]} staging|production [--dry-run | --database-only]"
}

log() { printf '==> %s\n' "$*"; }
warn() { printf 'deploy: warning: %s\n' "$*" >&2; }
die() {
	printf 'deploy: error: %s\n' "$*" >&2
	exit 1
}

environment=""
dry_run=0
database_only=0
for arg in "$@"; do
	case "$arg" in
	staging | production)
		[[ -z "$environment" ]] || die "more than one environment given"
		environment=$arg
		;;
	--dry-run) dry_run=1 ;;
	--database-only) database_only=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done
if [[ -z "$environment" ]] || ((dry_run && database_only)); then
	usage >&2
	exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
overlay="$here/overlays/$environment"
case "$environment" in
staging) namespace=factsway-staging ;;
production) namespace=factsway-prod ;;
esac
context=${FACTSWAY_KUBE_CONTEXT:-factsway-$environment}
timeout=${DEPLOY_TIMEOUT:-300s}
timeout_seconds=${timeout%s}
[[ "$timeout_seconds" =~ ^[0-9]+$ ]] || die "DEPLOY_TIMEOUT must be seconds, e.g. 300s"

command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed"

# Every call goes to the checked context, whatever the current one becomes meanwhile.
k() { kubectl --context "$context" "$@"; }
kn() { kubectl --context "$context" --namespace "$namespace" "$@"; }

current=$(kubectl config current-context 2>/dev/null) || die "no current kube context; run: kubectl config use-context $context"
if [[ "$current" != "$context" ]]; then
	die "the current kube context is '$current', not '$context' for $environment; switch with: kubectl config use-context $context (or set FACTSWAY_KUBE_CONTEXT)"
fi

log "Deploying $environment to context $context, namespace $namespace$( ((dry_run)) && echo ' (dry run)')"

# Build the overlay before touching the cluster, so a broken kustomization changes nothing.
kubectl kustomize "$overlay" >/dev/null || die "kubectl kustomize $overlay failed"

apply_flags=()
if ((dry_run)); then
	if k get namespace "$namespace" >/dev/null 2>&1; then
		apply_flags=(--dry-run=server)
	else
		apply_flags=(--dry-run=client)
	fi
fi

apply_stage() { # apply_stage STAGE: the objects labelled factsway.io/deploy-stage=STAGE
	k apply -k "$overlay" --selector "factsway.io/deploy-stage=$1" "${apply_flags[@]}"
}

secret_exists() { kn get secret "$1" >/dev/null 2>&1; }

# Names every key of an env file (KEY=value lines) without printing a value.
env_file_keys() { sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$1"; }

ensure_postgres_secret() {
	local file="$overlay/secrets/postgres.env" key password
	if secret_exists postgres-credentials; then
		log "Secret postgres-credentials exists; kept"
		return
	fi
	if [[ -f "$file" ]]; then
		for key in POSTGRES_USER POSTGRES_DB POSTGRES_PASSWORD; do
			env_file_keys "$file" | grep -qx "$key" || die "$file has no $key"
		done
		grep -Eq '^POSTGRES_PASSWORD=(change-me)?[[:space:]]*$' "$file" &&
			die "$file still has the example's password; set one, or delete the file to generate one"
		if ((dry_run)); then
			log "Would create Secret postgres-credentials from $file"
			return
		fi
		log "Creating Secret postgres-credentials from $file"
		kn create secret generic postgres-credentials --from-env-file="$file"
	else
		if ((dry_run)); then
			log "Would create Secret postgres-credentials with a generated password"
			return
		fi
		log "Creating Secret postgres-credentials with a generated password"
		# Hex, so the migration's DATABASE_URL needs no escaping. printf is a builtin: the
		# password reaches kubectl through the pipe, never through an argument list.
		password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
		printf 'POSTGRES_USER=factsway\nPOSTGRES_DB=factsway\nPOSTGRES_PASSWORD=%s\n' "$password" |
			kn create secret generic postgres-credentials --from-env-file=/dev/stdin
		unset password
	fi
}

# The bot's own role, incident_bot, on its own database (incident-bot-database.sql). Its
# password is URL-safe, since it is written into the URL as is.
ensure_bot_database_secret() {
	local file="$overlay/secrets/incident-bot-database.env" password url
	if secret_exists incident-bot-database; then
		log "Secret incident-bot-database exists; kept"
		return
	fi
	if [[ -f "$file" ]]; then
		env_file_keys "$file" | grep -qx INCIDENT_BOT_DB_PASSWORD || die "$file has no INCIDENT_BOT_DB_PASSWORD"
		password=$(sed -n 's/^[[:space:]]*INCIDENT_BOT_DB_PASSWORD=//p' "$file" | tail -n 1)
		[[ -n "$password" && "$password" != change-me ]] ||
			die "$file still has the example's password; set one, or delete the file to generate one"
		[[ "$password" =~ ^[A-Za-z0-9._~-]+$ ]] ||
			die "$file: INCIDENT_BOT_DB_PASSWORD may hold only letters, digits and . _ ~ - (it goes into a URL)"
		if ((dry_run)); then
			log "Would create Secret incident-bot-database from $file"
			return
		fi
		log "Creating Secret incident-bot-database from $file"
	else
		if ((dry_run)); then
			log "Would create Secret incident-bot-database with a generated password"
			return
		fi
		log "Creating Secret incident-bot-database with a generated password"
		password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	fi
	url="postgresql://incident_bot:${password}@postgres:5432/incident_bot"
	# printf is a builtin: the password reaches kubectl through the pipe only.
	printf 'password=%s\nurl=%s\n' "$password" "$url" |
		kn create secret generic incident-bot-database --from-env-file=/dev/stdin
	unset password url
}

bot_secret_changed=0
ensure_bot_secret() {
	local file="$overlay/secrets/incident-bot.env" result
	if [[ ! -f "$file" ]]; then
		if secret_exists incident-bot-secrets; then
			log "Secret incident-bot-secrets exists; kept ($file not found)"
		else
			warn "no $file and no Secret incident-bot-secrets: incident-bot runs with no integrations (copy $file.example)"
		fi
		return
	fi
	log "Applying Secret incident-bot-secrets from $file"
	result=$(kn create secret generic incident-bot-secrets --from-env-file="$file" --dry-run=client -o yaml |
		kn apply -f - "${apply_flags[@]}")
	printf '%s\n' "$result"
	[[ "$result" == *" configured"* ]] && bot_secret_changed=1
	return 0
}

# Waits for a Job to complete; fails at once when it fails, with its log.
wait_for_job() {
	local job=$1 deadline=$((SECONDS + timeout_seconds)) state
	while ((SECONDS < deadline)); do
		state=$(kn get job "$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')
		case " $state " in
		*" Complete "*) return 0 ;;
		*" Failed "*)
			kn logs "job/$job" --tail=100 >&2 || true
			die "migration Job $job failed (its log is above)"
			;;
		esac
		sleep 5
	done
	kn logs "job/$job" --tail=100 >&2 || true
	die "migration Job $job did not finish within $timeout"
}

log "Namespace, network policies and PostgreSQL"
apply_stage database

log "Secrets"
ensure_postgres_secret
ensure_bot_database_secret
ensure_bot_secret

if ((dry_run)); then
	log "Migration Job and the rest (dry run)"
	k apply -k "$overlay" "${apply_flags[@]}"
	log "Dry run complete: nothing was changed"
	exit 0
fi

log "Waiting for PostgreSQL"
kn rollout status statefulset/postgres --timeout="$timeout"

log "Running database migrations"
migration_jobs=(db-migrate incident-bot-db)
# A Job's pod template is immutable: the previous run goes before this one is created.
for job in "${migration_jobs[@]}"; do
	kn delete job "$job" --ignore-not-found --wait=true
done
apply_stage migrate
for job in "${migration_jobs[@]}"; do
	wait_for_job "$job"
done
if ((database_only)); then
	log "Database ready; nothing else applied (--database-only)"
	exit 0
fi

log "Applying everything"
k apply -k "$overlay"
if ((bot_secret_changed)); then
	log "incident-bot-secrets changed: restarting incident-bot"
	kn rollout restart deployment/incident-bot
fi

log "Waiting for every rollout"
failed=()
while read -r workload; do
	[[ -n "$workload" ]] || continue
	kn rollout status "$workload" --timeout="$timeout" || failed+=("$workload")
done < <(kn get deployments,statefulsets -o name)

log "Status"
kn get pods,services,ingresses,horizontalpodautoscalers,jobs -o wide

((${#failed[@]} == 0)) || die "not rolled out: ${failed[*]}"
log "Deployed $environment"
