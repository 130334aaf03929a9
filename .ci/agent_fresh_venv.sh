#!/usr/bin/env bash
# The agent as the customer's IT installs it: a fresh virtualenv with only ml-connector-agent,
# every dependency from a wheel (--only-binary :all:, so no C compiler is needed), none of the
# connector's (Slack SDK, SQLAlchemy, psycopg, lxml, Cython). Then `init` and `serve`, and the
# connector's `check` (from the project venv) against it with mTLS, with an API key, and both.
#
# Run by `make agent-check` (and so by .ci/run), not by pytest: a fresh venv install takes
# ~20-40 s, which belongs to CI once rather than to every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CONNECTOR=${CONNECTOR:-.venv/bin/ml-connector}
work=$(mktemp -d)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build the agent wheel and install it alone into a fresh venv"
$PYTHON -m venv "$work/venv"
"$work/venv/bin/python" -m pip wheel --quiet --no-deps ./agent -w "$work/wheels" 2>/dev/null
"$work/venv/bin/python" -m pip install --quiet --only-binary :all: "$work"/wheels/ml_connector_agent-*.whl 2>/dev/null
installed=$("$work/venv/bin/python" -m pip list --format=freeze | tr 'A-Z' 'a-z')
for unwanted in slack-sdk slack_sdk sqlalchemy psycopg psycopg-binary lxml cython alembic typer; do
  if echo "$installed" | grep -q "^${unwanted}=="; then
    echo "FAIL: the agent pulled in $unwanted"; exit 1
  fi
done
"$work/venv/bin/python" -c "import ml_connector_agent.cli, ml_connector_agent.app"
if "$work/venv/bin/python" -c "import ml_connector" 2>/dev/null; then
  echo "FAIL: ml_connector is importable in the agent-only venv"; exit 1
fi
echo "   installed: $(echo "$installed" | tr '\n' ' ')"

port=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ML_CONNECTOR_AGENT_KEY_PASSPHRASE="ci-$(date +%s)-$RANDOM$RANDOM"
"$work/venv/bin/ml-connector-agent" init "$work/agent" --host 127.0.0.1 --backend demo \
  --auth mtls+api_key --port "$port" > "$work/init.txt"
sed -i 's/^host = "0.0.0.0"/host = "127.0.0.1"/' "$work/agent/agent.toml"
echo "== the agent's own check (keys, certificates, 30-day expiry warning)"
"$work/venv/bin/ml-connector-agent" check --config "$work/agent/agent.toml"
api_key=$(grep -Eo 's100_[A-Za-z0-9_-]+' "$work/init.txt" | head -1)

mkdir -p "$work/conn/sage100"
cp "$work/agent/connector/ca.pem" "$work/agent/connector/client.pem" "$work/conn/sage100/"

start_agent() {  # $1 = auth mode of the agent
  sed -i "s/^mode = .*/mode = \"$1\"/" "$work/agent/agent.toml"
  "$work/venv/bin/ml-connector-agent" serve --config "$work/agent/agent.toml" > "$work/serve.txt" 2>&1 &
  agent_pid=$!
  for _ in $(seq 1 100); do grep -q "serving" "$work/serve.txt" && return 0; sleep 0.1; done
  cat "$work/serve.txt"; echo "FAIL: the agent did not start"; exit 1
}
stop_agent() { kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""; }

write_config() {  # $1 = auth mode of the connector
  {
    echo 'data_dir = "data"'
    echo '[connections.sage100]'
    echo 'type = "sage100"'
    echo "agent_url = \"https://127.0.0.1:$port\""
    echo 'company = "ABC"'
    echo "auth = \"$1\""
    echo 'ca_file = "sage100/ca.pem"'
    case "$1" in mtls|mtls+api_key) echo 'cert_file = "sage100/client.pem"'; echo 'client_key = "sage100.client_key"';; esac
    case "$1" in api_key|mtls+api_key) echo 'api_key = "sage100.api_key"';; esac
  } > "$work/conn/ml-connector.toml"
}

write_config mtls
(cd "$work/conn" && "$OLDPWD/$CONNECTOR" init > /dev/null)
(cd "$work/conn" && "$OLDPWD/$CONNECTOR" secrets set sage100.client_key < "$work/agent/connector/client.key" > /dev/null)
(cd "$work/conn" && echo "$api_key" | "$OLDPWD/$CONNECTOR" secrets set sage100.api_key > /dev/null)

for mode in mtls api_key mtls+api_key; do
  echo "== agent and connector both auth = $mode"
  start_agent "$mode"
  write_config "$mode"
  (cd "$work/conn" && "$OLDPWD/$CONNECTOR" check) | grep -E "sage100|ready|problem"
  stop_agent
done
echo "== the connector's status (another process) shows the agent certificate check saw"
(cd "$work/conn" && "$OLDPWD/$CONNECTOR" status) | grep -E "agent certificate .*expires on"
echo "OK: agent-only venv, init, serve, and check with mtls, api_key and mtls+api_key"
