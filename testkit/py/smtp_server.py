"""A real SMTP server for Aerie's tests, built on aiosmtpd.

It offers STARTTLS with the certificate it is given, requires AUTH (PLAIN or
LOGIN) after STARTTLS with one user and password, and writes every accepted
message to the spool folder as one JSON file, so a test can read what arrived.
Failed logins are appended to <spool>/auth-failures.log.
"""

import argparse
import json
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--spool", required=True)
    args = parser.parse_args()

    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().strip()
    os.makedirs(args.spool, exist_ok=True)
    counter = iter(range(1, 1 << 62))

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == password
        ):
            return AuthResult(success=True)
        login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
        with open(os.path.join(args.spool, "auth-failures.log"), "a", encoding="utf-8") as f:
            f.write(f"{mechanism} {login}\n")
        return AuthResult(success=False, handled=False)

    class Spool:
        async def handle_DATA(self, server, session, envelope):
            number = next(counter)
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "authenticated": bool(session.authenticated),
                "tls": session.ssl is not None,
                "data": envelope.content.decode("utf-8", errors="replace"),
            }
            path = os.path.join(args.spool, f"{number:08}.json")
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(record, f)
            os.rename(path + ".tmp", path)
            return "250 Message accepted for delivery"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    controller = Controller(
        Spool(),
        hostname=args.host,
        port=args.port,
        server_hostname="localhost",
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    print(f"smtp server ready on {args.host}:{args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
