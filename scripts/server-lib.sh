# Sourced by the scripts that need a running compact-service: `start_server BIN ARGS...` starts it on a
# free port (the direct background job, so its pid is the server's), waits for the port it reports and
# sets `server`, `port` and `base`; the EXIT trap stops it and removes its temporary files.
# The caller may add files to remove with `server_tmp+=(file)`.
server_tmp=()
stop_server() {
    if [ -n "${server:-}" ]; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -f "${server_tmp[@]}"
}
start_server() {
    local bin=$1; shift
    server_out=$(mktemp)
    server_log=$(mktemp)
    server_tmp+=("$server_out" "$server_log")
    "$bin" --port 0 "$@" >"$server_out" 2>"$server_log" &
    server=$!
    trap stop_server EXIT
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*listening on https\{0,1\}:\/\/[^ ]*:\([0-9][0-9]*\)$/\1/p' "$server_out")
        [ -n "$port" ] && break
        kill -0 "$server" 2>/dev/null || { cat "$server_log" >&2; echo "server exited" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { echo "server did not report its port" >&2; exit 1; }
    base="http://127.0.0.1:$port"
}
