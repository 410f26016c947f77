"""Kinesis-compatible servers for the tests, each on 127.0.0.1 and a free port.

moto (the library's own embedded local Kinesis) serves most tests. kinesalite, from npm,
is used where moto departs from AWS: it ends a closed shard's iterator and does not write
to a split parent. It is installed on first use into a cache folder with the machine's npm.
"""

import os
import shutil
import subprocess
from typing import List

from awskinesisstreams.local import LocalKinesis

KINESALITE_VERSION = "3.3.3"
CACHE = os.environ.get(
    "AWSKINESISSTREAMS_TEST_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "awskinesisstreams-tests")
)

# kinesalite's own CLI listens on every interface; this one listens on loopback only.
LAUNCH = """
var port = parseInt(process.argv[1], 10);
require('kinesalite')({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000})
  .listen(port, '127.0.0.1');
"""


def npm_home(package: str, version: str) -> str:
    """The folder whose node_modules holds `package`@`version`, installing it there if it is missing."""
    home = os.path.join(CACHE, "%s-%s" % (package, version))
    if not os.path.isdir(os.path.join(home, "node_modules", package)):
        if shutil.which("npm") is None:
            raise RuntimeError("%s needs Node.js and npm on the PATH" % package)
        os.makedirs(home, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", home, "%s@%s" % (package, version)],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=300,
        )
    return home


def kinesalite_home() -> str:
    """The folder whose node_modules holds kinesalite, installing it there if it is missing."""
    return npm_home("kinesalite", KINESALITE_VERSION)


class Kinesalite(LocalKinesis):
    """kinesalite (in memory) on 127.0.0.1, started and stopped like the embedded local Kinesis."""

    def command(self) -> List[str]:
        home = kinesalite_home()
        os.environ["NODE_PATH"] = os.path.join(home, "node_modules")
        return ["node", "-e", LAUNCH, str(self.port)]


DYNALITE_VERSION = "4.0.0"
DYNALITE_LAUNCH = """
var port = parseInt(process.argv[1], 10);
require('dynalite')({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0}).listen(port, '127.0.0.1');
"""


class Dynalite(LocalKinesis):
    """dynalite (npm, in memory) on 127.0.0.1: a DynamoDB whose conditional writes are atomic, as AWS's are.

    Started and stopped like the embedded local Kinesis; it serves DynamoDB only.
    """

    def command(self) -> List[str]:
        home = npm_home("dynalite", DYNALITE_VERSION)
        return ["env", "NODE_PATH=" + os.path.join(home, "node_modules"), "node", "-e", DYNALITE_LAUNCH, str(self.port)]
