"""README and docs/ say what the code does: every command line they show is
run by a test, as shown (doc_commands.py says which test runs which line;
the Docker ones are in container/), every `agent-launcher` command line
parses with the real parser, and every relative link lands on a file."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from doc_commands import NOT_RUN, PAGES, REPO, RUNNERS, claimed, claims_of, each_line, fill, shown_commands
from support import (
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_ID,
    WORKSPACE_TOKEN,
    assert_no_secret,
    base_env,
    expect_absent,
    launcher_path,
    unavailable,
)

import launcher
from launcher.devserver import DevPlatform
from launcher.values import fingerprint

LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
EXAMPLES = REPO / "examples" / "dev-platform"
TIMEOUT = 60


def only_line(runner: str) -> str:
    (_page, line), *more = claimed(runner)
    assert not more, f"{runner} runs one line, the docs show {1 + len(more)}"
    return line


def run_shown(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )


def example_values() -> list[str]:
    """The (fake) values of the bundled example files: printed by no command."""
    values = []
    for name in ("global.env", "workspace.env"):
        for line in (EXAMPLES / name).read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                values.append(line.split("=", 1)[1].strip())
    return values


# -- every shown command has its runner -------------------------------------------


def test_every_shown_command_is_run_by_exactly_one_test() -> None:
    for page in PAGES:
        for line in shown_commands(page):
            claims = claims_of(page.name, line)
            assert claims, f"{page.name}: `{line}` is run by no test: add its runner to RUNNERS in doc_commands.py"
            assert len(claims) == 1, f"{page.name}: `{line}` is claimed {len(claims)} times: {claims}"
    shown = {(page.name, line) for page in PAGES for line in shown_commands(page)}
    for page_name, pattern in [*(c for lines in RUNNERS.values() for c in lines), *NOT_RUN]:
        assert any(p == page_name and re.search(pattern, line) for p, line in shown), (
            f"{page_name} shows no command matching {pattern!r} any more: drop or fix its claim"
        )


def test_every_runner_is_a_test() -> None:
    """Each runner exists and takes its lines from the docs (``claimed``
    with its own name), so that a doc edit changes what it runs."""
    for runner in RUNNERS:
        path, _, name = runner.partition("::")
        source = (REPO / "tests" / path).read_text()
        names = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
        assert name in names, f"RUNNERS names {runner}, which does not exist"
        assert f'"{runner}"' in source, f"{runner} does not take its lines from the docs (claimed)"


def launcher_args(line: str) -> list[str] | None:
    """The launcher's own arguments in a shown command (after `agent-launcher`,
    or after the image name for `docker run --entrypoint agent-launcher`)."""
    words = shlex.split(re.sub(r"<[^>]*>|…|\.\.\.", "x", line))
    if words[0] == "docker":
        if "--entrypoint" not in words or words[words.index("--entrypoint") + 1] != "agent-launcher":
            return None  # the image's own entrypoint: the arguments are the agent's
        rest = words[words.index("--entrypoint") + 2 :]
        while rest and rest[0].startswith("-"):  # docker's flags and their values, up to the image
            rest = rest[2:] if rest[0] in ("-e", "-v", "--user", "--network") else rest[1:]
        return rest[1:]  # after the image name
    start = next((i for i, w in enumerate(words) if w.endswith("agent-launcher")), None)
    return None if start is None else words[start + 1 :]


def test_every_shown_launcher_command_parses() -> None:
    """Also where no engine runs the docker lines: their launcher part parses."""
    from launcher.cli import build_parser, split_command

    checked = 0
    for page in PAGES:
        for line in shown_commands(page):
            args = launcher_args(line)
            if args is None:
                continue
            own, _command = split_command(args)
            if own == ["--version"]:
                continue
            try:
                build_parser().parse_args(own)
            except Exception as exc:  # the parser raises ConfigError for a bad flag
                pytest.fail(f"{page.name}: `{line}` does not parse: {exc}")
            checked += 1
    assert checked >= 8, f"only {checked} commands found: the extraction is broken"


def test_every_relative_link_lands_on_a_file() -> None:
    for page in PAGES:
        for target, _anchor in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


# -- README ------------------------------------------------------------------------


def pip_env(home: Path) -> dict[str, str]:
    """What pip needs of this machine (its index, proxies, CAs, its cache, so
    that the install is the developer's usual one), nothing an agent reads."""
    passed = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.lower().endswith("_proxy")}
    passed.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pip"))
    for config in (Path.home() / ".config" / "pip" / "pip.conf", Path.home() / ".pip" / "pip.conf"):
        if config.exists() and "PIP_CONFIG_FILE" not in passed:
            passed["PIP_CONFIG_FILE"] = str(config)
    return base_env(HOME=str(home), **passed)


def test_readme_quick_start_runs_as_shown(tmp_path: Path) -> None:
    """The whole line, in a copy of the repository: a fresh venv, the install,
    then the exec. The child prints names only: the platform's global OAuth
    token is gone, the workspace's own key is there."""
    line = only_line("test_docs.py::test_readme_quick_start_runs_as_shown")
    source = tmp_path / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "build", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    home = tmp_path / "home"
    home.mkdir()
    proc = run_shown(["sh", "-c", line], pip_env(home), source, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = proc.stdout.split()
    assert "ANTHROPIC_API_KEY" in names and "CLAUDE_CODE_OAUTH_TOKEN" not in names, names
    leaked = sum(1 for value in example_values() if value in proc.stdout + proc.stderr)
    assert leaked == 0, f"{leaked} example value(s) printed"


def test_readme_test_command_is_what_ci_runs() -> None:
    """The suite cannot run itself; CI runs README's line, as its last command."""
    line = only_line("test_docs.py::test_readme_test_command_is_what_ci_runs")
    commands = [x for x in (REPO / ".ci" / "run").read_text().splitlines() if x.strip() and not x.startswith("#")]
    assert commands[-1] == line, f".ci/run ends with `{commands[-1]}`, README says `{line}`"


def test_readme_check_example_says_what_check_says() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = only_line("test_docs.py::test_readme_check_example_says_what_check_says")
    output = readme.split(f"$ {line}\n", 1)[1].split("```", 1)[0]
    proc = run_shown([launcher_path(), *shlex.split(line)[1:]], base_env(), REPO)
    assert proc.returncode == 78, proc.stderr

    def words(text: str) -> str:  # column widths follow the widest key
        return " ".join(text.split())

    def lines(text: str) -> list[str]:  # the count of inherited variables is the machine's
        return [words(x) for x in text.splitlines() if x.strip() and "inherited non-LLM" not in x]

    assert lines(output) == lines(proc.stdout)


def test_version_line_prints_the_version() -> None:
    line = only_line("test_docs.py::test_version_line_prints_the_version")
    proc = run_shown([launcher_path(), *shlex.split(line)[1:]], base_env(), REPO)
    assert (proc.returncode, proc.stdout) == (0, f"agent-launcher {launcher.__version__}\n"), proc.stderr


# -- the launcher's own lines, with the platform stand-in ---------------------------

# The agent the lines name: it prints the names of what it was given (never
# a value) and exits 3, or with --hold stays alive for audit to find.
CLAUDE = """#!{python}
import os, sys, time
if sys.argv[1:] == ["--hold"]:
    time.sleep(60)
print(" ".join(sorted(os.environ)))
sys.exit(3)
"""


@pytest.fixture
def agent_path(tmp_path: Path) -> str:
    """PATH with the stand-in `claude` and the installed launcher first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"
    claude.write_text(CLAUDE.format(python=sys.executable))
    claude.chmod(0o755)
    return os.pathsep.join([str(bin_dir), str(Path(launcher_path()).parent), base_env()["PATH"]])


def platform_env(platform: DevPlatform, token_file: Path, **extra: str) -> dict[str, str]:
    """The configuration the lines leave to the environment, as a container
    gives it: the platform, the workspace, byok, the token as a file."""
    return base_env(
        PLATFORM_URL=platform.url,
        WORKSPACE_ID=WORKSPACE_ID,
        MOLECULE_LLM_BILLING_MODE="byok",
        MOLECULE_WORKSPACE_TOKEN_FILE=str(token_file),
        **extra,
    )


def write_token(path: Path) -> Path:
    path.write_text(WORKSPACE_TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("own_key", [True, False], ids=["own-key", "platform-key-only"])
def test_supervise_line_gates_and_exits_as_its_child(
    platform: DevPlatform, agent_path: str, tmp_path: Path, own_key: bool
) -> None:
    """Same gate as exec: with the workspace's own key the child runs without
    the platform's OAuth token and supervise exits with the child's status;
    without it, 78 and no child started."""
    line = only_line("test_docs.py::test_supervise_line_gates_and_exits_as_its_child")
    if own_key:
        with platform.state.lock:
            platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    env = platform_env(platform, write_token(tmp_path / "auth_token"), PATH=agent_path)
    proc = run_shown(shlex.split(line), env, tmp_path)
    assert_no_secret(proc.stdout + proc.stderr)
    if not own_key:
        assert proc.returncode == 78 and "MISSING_BYOK_CREDENTIAL" in proc.stderr, proc.stderr
        assert proc.stdout == "", "the child started"
        return
    assert proc.returncode == 3, proc.stderr
    names = proc.stdout.split()
    assert "ANTHROPIC_API_KEY" in names and "CLAUDE_CODE_OAUTH_TOKEN" not in names
    assert not {"MOLECULE_WORKSPACE_TOKEN", "MOLECULE_WORKSPACE_TOKEN_FILE"} & set(names)


def test_audit_line_finds_the_foreign_key(agent_path: str, tmp_path: Path) -> None:
    """A `claude` holding the example's platform OAuth token, the workspace's
    own key in own.env: audit reports it foreign, with the fingerprint the
    page shows, and exits 1."""
    page = REPO / "docs" / "supervise-and-audit.md"
    line = only_line("test_docs.py::test_audit_line_finds_the_foreign_key")
    shown = page.read_text().split(f"$ {line}\n", 1)[1].split("```", 1)[0]
    example_oauth = next(v for v in example_values() if v.startswith("sk-ant-oat01-"))
    (tmp_path / "own.env").write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    holder = subprocess.Popen(
        ["claude", "--hold"],
        env=base_env(PATH=agent_path, CLAUDE_CODE_OAUTH_TOKEN=example_oauth),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        proc = run_shown(shlex.split(line), base_env(PATH=agent_path), tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert_no_secret(proc.stdout + proc.stderr)
    expect_absent(proc.stdout + proc.stderr, example_oauth)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    (finding,) = [f for f in report["findings"] if f["pid"] == holder.pid]
    # The fields the page shows (its `...` stands for more), with its values.
    shown_finding = re.search(r"\{\"pid\".*?\}", shown, re.S)
    assert shown_finding, f"no finding in the page's output: {shown}"
    assert finding == {**json.loads(shown_finding.group(0)), "pid": holder.pid}
    assert finding["fingerprint"] == fingerprint(example_oauth)
    assert set(re.findall(r'"(\w+)":', shown)) <= {*report, *finding}
    assert report["foreign"] >= 1


# The runtime behind the proxy: takes its token where the platform's does
# ($CONFIGS_DIR/.auth_token), registers, pulls its secrets, tries the
# launcher's token file; prints names and verdicts, never a value.
RUNTIME = """
import http.client, json, os, urllib.parse
token = open(os.path.join(os.environ["CONFIGS_DIR"], ".auth_token")).read().strip()
url = urllib.parse.urlsplit(os.environ["PLATFORM_URL"])
wid = os.environ["WORKSPACE_ID"]
def call(method, path, body=None):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    headers = {{"Authorization": "Bearer " + token, "Content-Type": "application/json"}}
    conn.request(method, path, None if body is None else json.dumps(body), headers)
    answer = conn.getresponse()
    return [answer.status, sorted(json.loads(answer.read() or b"{{}}"))]
try:
    open({token_file!r}).read()
    launcher_token = "read"
except OSError as exc:
    launcher_token = type(exc).__name__
print(json.dumps({{
    "uid": os.getuid(), "host": url.hostname, "port": url.port, "credential": token[:4],
    "token_file_var": "MOLECULE_WORKSPACE_TOKEN_FILE" in os.environ, "launcher_token": launcher_token,
    "register": call("POST", "/registry/register", {{"id": wid, "url": "http://127.0.0.1:8000"}}),
    "values": call("GET", "/workspaces/" + wid + "/secrets/values"),
}}))
"""


def python_for(uid: int, gid: int) -> str:
    """An interpreter ``uid`` may execute (this venv's may live under a root-only
    home), tried through a shell's exec as the launcher would: setpriv's own
    exec can succeed where that one is refused."""
    for candidate in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
        if candidate is None:
            continue
        as_user = ["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups"]
        probe = [*as_user, "sh", "-c", 'exec "$0" -c pass', candidate]
        if subprocess.run(probe, capture_output=True, timeout=TIMEOUT, check=False).returncode == 0:
            return candidate
    unavailable(f"no python3 that uid {uid} may execute")


@each_line("test_docs.py::test_platform_proxy_line_keeps_the_token_from_the_runtime")
def test_platform_proxy_line_keeps_the_token_from_the_runtime(
    platform: DevPlatform, shared: Path, page: str, line: str
) -> None:
    """The entrypoint line as docs/platform-proxy.md sets it up (the token
    file root's, 0600, outside the runtime's CONFIGS_DIR), `agent` being a
    user of this machine and `python /app/main.py` a runtime that calls the
    platform: it gets a loopback URL and a per-launch credential, cannot read
    the token, its re-pull has no global LLM key, and register's token is
    kept by the launcher."""
    import pwd

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        unavailable("needs root and setpriv to run the runtime as another user")
    try:
        user = pwd.getpwnam("nobody")  # the image's `agent` is not a user here
    except KeyError:
        unavailable("needs a 'nobody' user in /etc/passwd")
    issued = f"issued-{WORKSPACE_TOKEN}"
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        platform.state.issue_token = issued
    configs, private, bin_dir = shared / "configs", shared / "launcher", shared / "bin"
    for directory, mode in ((configs, 0o755), (private, 0o700), (bin_dir, 0o755)):
        directory.mkdir()
        directory.chmod(mode)
    token_file = write_token(private / "workspace-token")
    main = shared / "main.py"
    main.write_text(RUNTIME.format(token_file=str(token_file)))
    main.chmod(0o644)
    (bin_dir / "python").symlink_to(python_for(user.pw_uid, user.pw_gid))
    path = os.pathsep.join([str(bin_dir), str(Path(launcher_path()).parent), base_env()["PATH"]])
    env = platform_env(
        platform, token_file, PATH=path, CONFIGS_DIR=str(configs), CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH
    )

    words = fill(line, {"--user agent": f"--user {user.pw_name}", "/app/main.py": str(main)})
    proc = run_shown(["sh", "-c", shlex.join(words)], env, shared)
    assert_no_secret(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (seen["uid"], seen["host"], seen["credential"]) == (user.pw_uid, "127.0.0.1", "lpx-"), seen
    assert seen["port"] != int(platform.url.rsplit(":", 1)[1]), "the runtime talks to the platform itself"
    assert (seen["token_file_var"], seen["launcher_token"]) == (False, "PermissionError"), seen
    assert seen["register"] == [200, ["status"]], "register's auth_token reached the runtime"
    status, keys = seen["values"]
    assert status == 200 and "ANTHROPIC_API_KEY" in keys and "CLAUDE_CODE_OAUTH_TOKEN" not in keys, keys
    with platform.state.lock:
        assert not any((r.authorization or "").startswith("Bearer lpx-") for r in platform.state.requests)
    assert token_file.read_text() == issued, "register's token was not kept where the token file is"


# -- the lock files, the benchmarks --------------------------------------------------


def options(words: list[str]) -> set[str]:
    """pip-compile's options as its header records them (long, with `=`)."""
    found, pending = set(), ""
    for word in words:
        if pending:
            found.add(f"{pending}={word}")
            pending = ""
        elif word in ("-o", "--output-file", "--index-url"):
            pending = "--output-file" if word == "-o" else word
        else:
            found.add(word)
    return found


def test_pip_compile_lines_made_the_locks() -> None:
    """pip-compile needs PyPI, out of reach here; the lock files record the
    command that made them, which must be the one the page shows."""
    for _page, line in claimed("test_docs.py::test_pip_compile_lines_made_the_locks"):
        words = shlex.split(line)
        output = words[words.index("-o") + 1]
        header = re.search(r"^#    (pip-compile .*)$", (REPO / output).read_text(), re.M)
        assert header, f"{output} has no pip-compile header"
        assert options(words[1:]) == options(shlex.split(header.group(1))[1:]), f"{output} was made otherwise"


def test_benchmarks_line_prints_every_table(tmp_path: Path) -> None:
    """With the --quick its comment offers (about a minute instead of nine):
    each of the run's parts prints its table (a part that failed would print
    its exit instead), the fleet's 200 launchers all start."""
    line = only_line("test_docs.py::test_benchmarks_line_prints_every_table")
    words = shlex.split(line)
    words[0] = sys.executable  # .venv/bin/python: this venv's
    proc = run_shown([*words, "--quick"], base_env(HOME=str(tmp_path)), REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for part in (
        "launch overhead",
        "launch ratios",
        "gate scaling",
        "supervise footprint",
        "fleet start",
        "platform proxy",
    ):
        assert f"\n## {part}" in proc.stdout, part
    assert " exited " not in proc.stdout, proc.stdout[-2000:]
    assert re.search(r"^launchers started +200 / 200$", proc.stdout, re.M), proc.stdout[-2000:]
