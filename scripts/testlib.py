"""What the scripts that drive a real compact-service share: a free loopback port, a keep-alive JSON
client that reconnects when the server closes, and waiting for a port to accept."""
import http.client, json, socket, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for_port(port, timeout=20):
    """Whether 127.0.0.1:port accepts a connection within `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Client:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, port, timeout):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                if (r.getheader("Connection") or "").lower() == "close":
                    self.close()
                return r.status, payload
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest,
                    http.client.BadStatusLine, BrokenPipeError):
                self.close()
                if attempt == 1:
                    raise
            except socket.timeout:
                self.close()
                raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
