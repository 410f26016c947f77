"""Kinesis-compatible servers for the tests, each on 127.0.0.1 and a free port.

moto (the library's own embedded local Kinesis) serves most tests. kinesalite, from npm,
is used where moto departs from AWS: it ends a closed shard's iterator and does not write
to a split parent. kinesis-mock (npm `kinesis-local`) is the one that serves stream
consumers and SubscribeToShard. The npm ones are installed on first use into a cache
folder with the machine's npm.
"""

import os
import shutil
import subprocess
from typing import Dict, List

from awskinesisstreams.local import LocalKinesis, free_port

KINESALITE_VERSION = "3.3.3"
KINESIS_MOCK_VERSION = "0.6.2"
CACHE = os.environ.get(
    "AWSKINESISSTREAMS_TEST_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "awskinesisstreams-tests")
)

# kinesalite's own CLI listens on every interface; this one listens on loopback only.
LAUNCH = """
var port = parseInt(process.argv[1], 10);
require('kinesalite')({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000})
  .listen(port, '127.0.0.1');
"""


# kinesis-mock binds 0.0.0.0 and has no setting for it: loaded first, this makes it bind loopback only.
LOOPBACK_ONLY = """
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] !== null && typeof args[0] === 'object') args[0] = Object.assign({}, args[0], {host: '127.0.0.1'});
  else if (typeof args[1] === 'string') args[1] = '127.0.0.1';
  else args.splice(1, 0, '127.0.0.1');
  return listen.apply(this, args);
};
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


class KinesisMock(LocalKinesis):
    """kinesis-mock (npm kinesis-local, in memory) on 127.0.0.1: the server with stream consumers and SubscribeToShard.

    It binds every interface and has no setting for it: LOOPBACK_ONLY, loaded first, keeps it on
    127.0.0.1. Its TLS port is another free port, left unused. Every create, delete, register,
    reshard and mode change takes 0 ms instead of 500.
    """

    def command(self) -> List[str]:
        package = os.path.join(npm_home("kinesis-local", KINESIS_MOCK_VERSION), "node_modules", "kinesis-local")
        loopback = os.path.join(package, "loopback-only.js")
        if not os.path.exists(loopback):
            with open(loopback, "w") as out:
                out.write(LOOPBACK_ONLY)
        settings = ["%s=%s" % item for item in sorted(self.settings(package).items())]
        return ["env", "-C", package] + settings + ["node", "-r", loopback, "main.js"]

    def stop(self) -> None:
        """Stop it at once: it keeps nothing, and takes seconds to shut down when asked."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def settings(self, package: str) -> Dict[str, str]:
        """Its environment: the ports, the certificate it wants even unused, and no waiting."""
        tls_port = free_port()
        while tls_port == self.port:  # not bound yet, so it could be handed out again
            tls_port = free_port()
        settings = {
            "KINESIS_MOCK_PLAIN_PORT": str(self.port),
            "KINESIS_MOCK_TLS_PORT": str(tls_port),
            "KINESIS_MOCK_CERT_PATH": os.path.join(package, "server.json"),
            "LOG_LEVEL": "ERROR",
            "SHARD_LIMIT": "1000",
        }
        for action in (
            "CREATE_STREAM",
            "DELETE_STREAM",
            "REGISTER_STREAM_CONSUMER",
            "DEREGISTER_STREAM_CONSUMER",
            "START_STREAM_ENCRYPTION",
            "STOP_STREAM_ENCRYPTION",
            "SPLIT_SHARD",
            "MERGE_SHARDS",
            "UPDATE_SHARD_COUNT",
            "UPDATE_STREAM_MODE",
        ):
            settings[action + "_DURATION"] = "0ms"
        return settings


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
