#!/usr/bin/env bash
# End to end on kind (needs Docker, kind, kubectl, helm): build and load both images, install the
# chart, apply an example AgentPool and Workflow, start a run through the gateway, print its output.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${CLUSTER:-configurable-agents}
TAG=${TAG:-e2e}
NS=configurable-agents-system
DEMO=demo

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --config kind-config.yaml
docker build -f Dockerfile.agent -t "configurable-agents/agent:$TAG" .
docker build -f Dockerfile.operator -t "configurable-agents/operator:$TAG" .
kind load docker-image --name "$CLUSTER" "configurable-agents/agent:$TAG" "configurable-agents/operator:$TAG"

helm upgrade --install configurable-agents helm/configurable-agents -n "$NS" --create-namespace --wait \
  --set operator.image.repository=configurable-agents/operator --set operator.image.tag="$TAG" \
  --set agent.image.repository=configurable-agents/agent --set agent.image.tag="$TAG" \
  --set agent.image.pullPolicy=Never --set operator.image.pullPolicy=Never

kubectl create namespace "$DEMO" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$DEMO" apply -f examples/01-linear-chain/
kubectl -n "$DEMO" wait --for=condition=Ready agentpool/researchers workflow/linear-chain --timeout=5m

kubectl -n "$NS" port-forward service/configurable-agents-gateway 18080:80 >/dev/null &
FORWARD=$!
trap 'kill $FORWARD' EXIT
for _ in $(seq 50); do curl -fs http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.2; done
curl -fsS -X POST "http://127.0.0.1:18080/v1/workflows/$DEMO/linear-chain/runs" \
  -H 'content-type: application/json' -d '{"input": {"topic": "durable agents"}, "wait": true}' \
  | tee /dev/stderr | python3 -c 'import json,sys; run=json.load(sys.stdin); sys.exit(run["status"] != "succeeded")'
echo "kind-e2e: the run succeeded"
