"""Configuration (``config.load_config``): flags > environment > defaults,
one test per layer, and every flag and variable validated once, into
``Config``. The billing mode cannot fail open: an empty ``--billing-mode``
is refused, while case, spaces and zero-width characters at its ends do not
change what a mode means (issue 10)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from support import OWN_API_KEY, PLATFORM_OAUTH, WORKSPACE_ID, base_env, run_launcher

from launcher.config import BillingMode, Config, load_config, parse_signal
from launcher.errors import ConfigError, InsecureURLError

WS = WORKSPACE_ID


def test_default_layer():
    config = load_config({}, {})
    assert (config.billing_mode, config.billing_mode_source) == (BillingMode.PLATFORM_MANAGED, "default")
    assert (config.provider, config.deadline, config.max_bundle_bytes) == ("any", 30.0, 1024 * 1024)
    assert config.platform_url is None and config.token is None


def test_env_layer():
    config = load_config(
        {}, {"MOLECULE_LLM_BILLING_MODE": "byok", "LAUNCHER_DEADLINE": "5", "MOLECULE_LLM_PROVIDER": "openai"}
    )
    assert (config.billing_mode, config.billing_mode_source) == (BillingMode.BYOK, "env")
    assert (config.deadline, config.provider) == (5.0, "openai")


def test_flag_layer_beats_env():
    config = load_config(
        {"billing_mode": "disabled", "deadline": "7"},
        {"MOLECULE_LLM_BILLING_MODE": "byok", "LAUNCHER_DEADLINE": "5"},
    )
    assert (config.billing_mode, config.billing_mode_source, config.deadline) == (BillingMode.DISABLED, "flag", 7.0)


def test_empty_env_value_counts_as_unset():
    # (the billing mode's own case is test_an_empty_billing_mode_variable_is_still_unset)
    config = load_config({}, {"LAUNCHER_DEADLINE": "", "MOLECULE_LLM_PROVIDER": "", "LAUNCHER_LOG_FORMAT": ""})
    assert (config.deadline, config.provider, config.log_format) == (30.0, "any", "text")


@pytest.mark.parametrize(
    ("cli", "environ"),
    [({}, {"MOLECULE_LLM_BILLING_MODE": "bring-your-own"}), ({"billing_mode": "by\u200bok"}, {})],
    ids=["variable", "flag-with-a-zero-width-space-inside"],
)
def test_unrecognised_mode_falls_back_to_platform_managed_with_warning(cli, environ):
    config = load_config(cli, environ)
    assert (config.billing_mode, config.billing_mode_source) == (BillingMode.PLATFORM_MANAGED, "fallback")
    assert any("unrecognised billing mode" in w for w in config.warnings)


@pytest.mark.parametrize("wid", ["6B66DE8D-9337-4FB4-BE8D-6D49DCA0D809", "not-a-uuid", "../../admin", f"{WS}x"])
def test_bad_workspace_id(wid):
    with pytest.raises(ConfigError):
        load_config({"platform_url": "http://127.0.0.1:1", "workspace_id": wid}, {})


def test_workspace_id_required_with_platform():
    with pytest.raises(ConfigError, match="workspace id is required"):
        load_config({"platform_url": "http://127.0.0.1:1"}, {})


@pytest.mark.parametrize("url", ["http://platform.internal:8080", "http://10.0.0.5", "http://[fe80::1]"])
def test_plain_http_to_non_loopback_is_refused(url):
    with pytest.raises(InsecureURLError):
        load_config({"platform_url": url, "workspace_id": WS}, {})


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:80", "https://platform.example"]
)
def test_loopback_and_https_are_allowed(url):
    assert load_config({"platform_url": url, "workspace_id": WS}, {}).platform_url == url


@pytest.mark.parametrize("url", ["https://u:FAKESECRET@host", "ftp://u:FAKESECRET@host", "https://FAKESECRET@host:x"])
def test_url_with_credentials_is_refused_without_quoting_them(url):
    with pytest.raises(ConfigError) as info:
        load_config({"platform_url": url, "workspace_id": WS}, {})
    assert "FAKESECRET" not in str(info.value)


def test_allow_http_from_flag_or_env():
    url = {"platform_url": "http://platform:8080", "workspace_id": WS}
    assert load_config({**url, "allow_http": True}, {}).allow_http
    assert load_config(url, {"LAUNCHER_ALLOW_HTTP": "1"}).allow_http


@pytest.mark.parametrize(
    "url", ["ftp://x", "platform:8080", "https://u:p@host", "https://host/?q=1", "https://host:99999"]
)
def test_malformed_platform_url(url):
    with pytest.raises(ConfigError):
        load_config({"platform_url": url, "workspace_id": WS}, {})


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_deadline_must_be_positive(value):
    with pytest.raises(ConfigError):
        load_config({"deadline": value}, {})


PLATFORM = {"platform_url": "http://127.0.0.1:1", "workspace_id": WS}


def test_token_sources_in_order(tmp_path):
    flag_file, env_file = tmp_path / "flag", tmp_path / "env"
    flag_file.write_text("from-flag\n")
    env_file.write_text("from-env-file")
    for f in (flag_file, env_file):
        f.chmod(0o600)
    env = {"MOLECULE_WORKSPACE_TOKEN": "from-env", "MOLECULE_WORKSPACE_TOKEN_FILE": str(env_file)}
    assert load_config({**PLATFORM, "token_file": str(flag_file)}, env).token == "from-flag"
    assert load_config(PLATFORM, env).token == "from-env"
    assert load_config(PLATFORM, {"MOLECULE_WORKSPACE_TOKEN_FILE": str(env_file)}).token == "from-env-file"
    (tmp_path / ".auth_token").write_text("from-configs")
    (tmp_path / ".auth_token").chmod(0o600)
    assert load_config(PLATFORM, {"CONFIGS_DIR": str(tmp_path)}).token == "from-configs"
    assert load_config(PLATFORM, {"CONFIGS_DIR": str(tmp_path / "none")}).token is None


def test_local_mode_reads_no_token(tmp_path):
    absent = str(tmp_path / "absent")
    config = load_config({"token_file": absent}, {"MOLECULE_WORKSPACE_TOKEN": "tok"})
    assert config.token is None and config.token_source == "unused in local mode"


@pytest.mark.parametrize("token", ["two words", "tab\there", "bell\x07", "   ", "line\nbreak"])
def test_token_with_whitespace_or_control_characters_is_refused(tmp_path, token):
    path = tmp_path / "token"
    path.write_text(token)
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_config({**PLATFORM, "token_file": str(path)}, {})
    assert token.strip() == "" or token not in str(info.value)


def test_world_readable_token_file_warns(tmp_path):
    path = tmp_path / "token"
    path.write_text("tok")
    path.chmod(0o644)
    assert any(
        "readable by group or others" in w for w in load_config({**PLATFORM, "token_file": str(path)}, {}).warnings
    )


def test_missing_token_file_is_config_invalid(tmp_path):
    with pytest.raises(ConfigError, match="cannot read token file"):
        load_config({**PLATFORM, "token_file": str(tmp_path / "absent")}, {})


def test_repr_masks_the_token():
    config = load_config(PLATFORM, {"MOLECULE_WORKSPACE_TOKEN": "tok-FAKESECRET"})
    assert isinstance(config, Config)
    assert "FAKESECRET" not in repr(config) and "********" in repr(config)


# -- the billing mode cannot fail open ------------------------------------------------------


@pytest.mark.parametrize("flag", ["", " ", "\t\n", "\u200b", " \ufeff\u2060 "])
def test_an_empty_billing_mode_flag_is_config_invalid(flag: str) -> None:
    with pytest.raises(ConfigError, match="empty"):
        load_config({"billing_mode": flag}, {"MOLECULE_LLM_BILLING_MODE": "byok"})


def test_an_empty_billing_mode_flag_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    env = base_env(MOLECULE_LLM_BILLING_MODE="byok", CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    for command in ("exec", "check"):
        result = run_launcher(command, "--billing-mode", "", "--", "touch", str(marker), env=env)
        assert result.returncode == 64, result.stderr
        assert "CONFIG_INVALID" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        ("byok\u200b", BillingMode.BYOK),
        ("\ufeffBYOK ", BillingMode.BYOK),
        ("\u200c Subscription\u2060\n", BillingMode.SUBSCRIPTION),
        ("Disabled\u200d", BillingMode.DISABLED),
        ("PLATFORM_MANAGED", BillingMode.PLATFORM_MANAGED),
    ],
)
def test_billing_mode_ignores_case_and_invisible_ends(raw: str, mode: BillingMode) -> None:
    for config in (load_config({"billing_mode": raw}, {}), load_config({}, {"MOLECULE_LLM_BILLING_MODE": raw})):
        assert config.billing_mode is mode and not config.warnings


def test_an_empty_billing_mode_variable_is_still_unset() -> None:
    config = load_config({}, {"MOLECULE_LLM_BILLING_MODE": ""})
    assert config.billing_mode is BillingMode.PLATFORM_MANAGED and config.billing_mode_source == "default"


def test_byok_with_a_zero_width_space_strips_the_platform_token(tmp_path: Path) -> None:
    dump = tmp_path / "env"
    env_file = tmp_path / "own.env"
    env_file.write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    result = run_launcher(
        "exec", "--billing-mode", "byok\u200b", "--env-file", str(env_file), "--", "sh", "-c", f"env > {dump}",
        env=base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in dump.read_text()


# -- closed here: what other modules used to read or check themselves ------------------------

HTTPS = {"platform_url": "https://127.0.0.1:1", "workspace_id": WS}


def test_ca_file_flag_beats_launcher_ca_file_beats_ssl_cert_file(tmp_path):
    flag, launcher_var, openssl_var = (tmp_path / name for name in ("flag.pem", "launcher.pem", "openssl.pem"))
    for path in (flag, launcher_var, openssl_var):
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"LAUNCHER_CA_FILE": str(launcher_var), "SSL_CERT_FILE": str(openssl_var)}
    assert load_config({**HTTPS, "ca_file": str(flag)}, env).ca_file == str(flag)
    assert load_config(HTTPS, env).ca_file == str(launcher_var)
    assert load_config(HTTPS, {"SSL_CERT_FILE": str(openssl_var)}).ca_file == str(openssl_var)
    assert load_config(HTTPS, {"SSL_CERT_FILE": ""}).ca_file is None


def test_ssl_cert_file_counts_only_where_tls_is_used(tmp_path):
    """Local mode and plain http never load a CA bundle, so an inherited
    SSL_CERT_FILE that names nothing is not their concern."""
    absent = {"SSL_CERT_FILE": str(tmp_path / "absent.pem")}
    assert load_config({}, absent).ca_file is None
    assert load_config(PLATFORM, absent).ca_file is None
    with pytest.raises(ConfigError, match=r"cannot read SSL_CERT_FILE .*: no such file"):
        load_config(HTTPS, absent)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(HTTPS, {"SSL_CERT_FILE": str(tmp_path)})


def test_supervise_flags_are_validated_here():
    config = load_config({"refresh": "2.5", "stop_signal": "hup", "stop_timeout": "0", "subreaper": True}, {})
    assert (config.refresh, config.stop_signal, config.stop_timeout, config.subreaper) == (2.5, signal.SIGHUP, 0, True)
    defaults = load_config({}, {})
    assert (defaults.refresh, defaults.stop_signal, defaults.stop_timeout) == (None, signal.SIGTERM, 10.0)
    for bad in ({"refresh": "0"}, {"refresh": "nan"}, {"refresh": "soon"}, {"stop_timeout": "-1"}):
        with pytest.raises(ConfigError):
            load_config(bad, {})
    with pytest.raises(ConfigError, match="unknown signal"):
        load_config({"stop_signal": "SIGBOGUS"}, {})


def test_pids_and_verbosity():
    assert load_config({"pids": [1, "2"]}, {}).pids == (1, 2)
    assert load_config({}, {}).pids is None
    with pytest.raises(ConfigError, match="not a process id"):
        load_config({"pids": ["0"]}, {})
    assert [load_config(layer, {}).verbosity for layer in ({}, {"verbose": 2}, {"quiet": True})] == [1, 3, 0]


def test_log_format_from_the_environment_is_checked_once_here():
    assert load_config({}, {"LAUNCHER_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="log format"):
        load_config({}, {"LAUNCHER_LOG_FORMAT": "xml"})


def test_parse_signal_accepts_names_and_numbers() -> None:
    assert parse_signal("SIGTERM") is signal.SIGTERM
    assert parse_signal("hup") is signal.SIGHUP
    assert parse_signal("9") is signal.SIGKILL
    with pytest.raises(ConfigError):
        parse_signal("NOPE")
