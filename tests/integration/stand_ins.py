"""The AWS side for push tests: a moto ECR API server and real registries with htpasswd.

moto's authorization token decodes to AWS:123456789012-auth-token, so the "good"
registry accepts exactly that and the "wrong" one accepts only another password.
"""
import os
import subprocess
import uuid
from pathlib import Path

from ops.registry import local_registry
from tests.integration.helpers import free_port

TOKEN_USER, TOKEN_PASSWORD = "AWS", "123456789012-auth-token"


class Registry:
    def __init__(self, folder, password):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.addr = f"127.0.0.1:{free_port()}"
        self.htpasswd = self.folder / "htpasswd"
        self.htpasswd.write_text(subprocess.run(
            ["htpasswd", "-Bbn", TOKEN_USER, password], capture_output=True, text=True,
            check=True).stdout)
        self.process = None

    def start(self):
        self.process = local_registry.serve(self.folder, self.addr, htpasswd=self.htpasswd)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Moto:
    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def env(self, home, secret_key):
        """What a user's shell would hold: credentials, region, endpoints, a clean HOME."""
        endpoint = f"http://127.0.0.1:{self.port}"
        return {"AWS_ACCESS_KEY_ID": "test-access-key-id", "AWS_SECRET_ACCESS_KEY": secret_key,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_ECR": endpoint,
                "AWS_ENDPOINT_URL_STS": endpoint, "AWS_EC2_METADATA_DISABLED": "true",
                "HOME": str(home), "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def user_env(self, tmp_path, secret_key, registry, repository_prefix):
        """env() for one test, with a fresh HOME, ECR_REGISTRY pointing at `registry` and
        an ECR repository of its own."""
        home = tmp_path / "home"
        home.mkdir()
        env = self.env(home, secret_key)
        env.update(ECR_REGISTRY=registry.addr,
                   INVOKE_TASKY_ECR_REPOSITORY=f"{repository_prefix}-{uuid.uuid4().hex[:6]}")
        return env
