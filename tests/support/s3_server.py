"""moto's standalone S3 server for the end-to-end tests, on 127.0.0.1:PORT.

It exits as soon as the process that started it is gone (its parent
changes), so a test run that ends or is killed leaves no server behind.
"""

import os
import sys
import threading
import time

from moto.server import main

port = sys.argv[1]
parent = os.getppid()


def exit_with_parent():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
sys.argv = ["moto_server", "-H", "127.0.0.1", "-p", port]
main()
