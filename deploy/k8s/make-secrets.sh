#!/usr/bin/env bash
# Makes the coordinator's TLS certificates and the tokens, and stores them in the two Secrets the
# manifests mount (their keys: secrets.template.yaml). Nothing secret is ever in this repository.
#
#   deploy/k8s/make-secrets.sh [--namespace hpsweep] [--out DIR] [--hpsweep PATH]
#
# Writes DIR (default ./hpsweep-secrets, mode 0700): certs/ (the CA, server and client
# certificates; the CA key is what signs more), tokens.txt (hashes and roles: the coordinator's
# --auth-tokens), worker.token and user.token (mode 0600). Keep user.token and certs/ca.crt: the
# `hpsweep submit/status/leaderboard` commands need them. Needs `hpsweep` (or --hpsweep PATH,
# e.g. build/cli/hpsweep) and kubectl pointed at the cluster. Run it once; a second run refuses to
# overwrite DIR. New tokens later: `hpsweep token create` into DIR/tokens.txt, run the
# `kubectl create secret` lines below again, and restart the coordinator (it reads tokens at start).
set -euo pipefail

NAMESPACE=hpsweep
OUT=./hpsweep-secrets
HPSWEEP=hpsweep
while [[ $# -gt 0 ]]; do
  case "$1" in
    --namespace) NAMESPACE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --hpsweep) HPSWEEP="$2"; shift 2 ;;
    *) echo "usage: $0 [--namespace NS] [--out DIR] [--hpsweep PATH]" >&2; exit 2 ;;
  esac
done
if [[ -e "${OUT}" ]]; then
  echo "make-secrets: ${OUT} exists; remove it or pass --out" >&2
  exit 1
fi
mkdir -m 0700 -p "${OUT}"

# The names workers may use for the coordinator: the Service in its namespace. Workers pass
# --tls-server-name hpsweep-coordinator (deploy/k8s/worker.yaml), which must be one of these.
SERVICE=hpsweep-coordinator
"${HPSWEEP}" certs --out "${OUT}/certs" --host "${SERVICE}" "${SERVICE}.${NAMESPACE}" \
  "${SERVICE}.${NAMESPACE}.svc" "${SERVICE}.${NAMESPACE}.svc.cluster.local"
"${HPSWEEP}" token create --role worker --tokens "${OUT}/tokens.txt" --out "${OUT}/worker.token"
"${HPSWEEP}" token create --role user --tokens "${OUT}/tokens.txt" --out "${OUT}/user.token"

kubectl get namespace "${NAMESPACE}" >/dev/null 2>&1 || kubectl create namespace "${NAMESPACE}"
# What the coordinator reads: its certificate and key, and the tokens' hashes (never a token).
kubectl -n "${NAMESPACE}" create secret generic hpsweep-coordinator \
  --from-file=server.crt="${OUT}/certs/server.crt" \
  --from-file=server.key="${OUT}/certs/server.key" \
  --from-file=tokens.txt="${OUT}/tokens.txt" \
  --dry-run=client -o yaml | kubectl apply -f -
# What a worker reads: the CA that signed the coordinator's certificate, and the worker token.
kubectl -n "${NAMESPACE}" create secret generic hpsweep-worker \
  --from-file=ca.crt="${OUT}/certs/ca.crt" \
  --from-file=worker.token="${OUT}/worker.token" \
  --dry-run=client -o yaml | kubectl apply -f -
echo "make-secrets: Secrets hpsweep-coordinator and hpsweep-worker are in namespace ${NAMESPACE};"
echo "  keep ${OUT}/user.token and ${OUT}/certs/ca.crt for submit/status/leaderboard."
