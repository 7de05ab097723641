"""A webhook receiver for the end-to-end tests: it checks every message
with the `standardwebhooks` package (the Standard Webhooks reference
library, not Kiln's code), records it, and answers as told.

    webhook_receiver.py --secret whsec_... [--fail N] [--status S]
                        [--retry-after SECONDS] [--gone] [--hang]

--fail N: each message (by webhook-id) is answered --status (default 500)
on its first N attempts, then 200; --retry-after adds that header to those
answers. --gone answers 410 to everything. --hang never answers.

Prints "listening on PORT" once ready. GET /received answers every attempt
so far as JSON: [{"id", "timestamp", "verified", "answered", "body"}].
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", required=True)
    parser.add_argument("--fail", type=int, default=0)
    parser.add_argument("--status", type=int, default=500)
    parser.add_argument("--retry-after")
    parser.add_argument("--gone", action="store_true")
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()

    webhook = Webhook(args.secret)
    received = []
    attempts = {}
    lock = threading.Lock()
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def answer(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != "/received":
                return self.answer(404)
            with lock:
                body = json.dumps(received).encode()
            self.answer(200, body, [("Content-Type", "application/json")])

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            payload = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                webhook.verify(payload, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
            message_id = headers.get("webhook-id", "")
            with lock:
                attempts[message_id] = attempts.get(message_id, 0) + 1
                attempt = attempts[message_id]
            if args.hang:
                status = None
            elif args.gone:
                status = 410
            elif attempt <= args.fail:
                status = args.status
            else:
                status = 200
            with lock:
                received.append(
                    {
                        "id": message_id,
                        "timestamp": headers.get("webhook-timestamp"),
                        "verified": verified,
                        "answered": status,
                        "body": json.loads(payload or b"null"),
                    }
                )
            if status is None:
                released.wait()
                return
            extra = []
            if status != 200 and args.retry_after is not None:
                extra.append(("Retry-After", args.retry_after))
            self.answer(status, b"{}", extra)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
