"""An SMTP server that keeps every message as an ``.eml`` file (docs/architecture.md §6).

python -m local.smtp_sink --port 1025 --dir .local/mail
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class SaveToFolder:
    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.counter = 0

    async def handle_DATA(self, server, session, envelope):
        self.counter += 1
        name = f"{time.time_ns()}-{self.counter:05d}.eml"
        tmp = self.folder / (name + ".part")
        # Which connection it came on (the client's port): tests check that a delivery
        # run sends its messages over one connection.
        peer = ":".join(str(part) for part in (session.peer or ())[:2])
        header = f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\nX-Sink-Peer: {peer}\r\n".encode()
        tmp.write_bytes(header + envelope.original_content)
        tmp.rename(self.folder / name)  # readers never see half a message
        return "250 Message accepted"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", default=".local/mail")
    args = parser.parse_args(argv)
    controller = Controller(SaveToFolder(Path(args.dir)), hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
