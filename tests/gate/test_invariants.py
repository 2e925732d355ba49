"""Invariants of the gate (``gate.py``, through ``pipeline.run_gate``) over
random bundles, scopes, inherited environments, key-name case variants and
billing-mode spellings: no foreign LLM key survives a non-platform mode,
every other key does, unchanged; the launcher's token never reaches the
child; a refusal exactly when nothing usable is left; no rendering shows a
value.

The expected outcome is computed here from first principles (which layer
wins a key, what scope it carries), not by asking the gate, so a bug in
the gate's layering shows up as a disagreement rather than being copied.
"""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import MARKER

from launcher.catalogue import load_catalogue
from launcher.config import BillingMode, load_config, trimmed
from launcher.gate import LAUNCHER_OWN_VARS, GatePlan, Source, is_launcher_var
from launcher.log import Log
from launcher.pipeline import log_plan, run_gate
from launcher.render import dumps, plan_json, plan_table
from launcher.values import Scope

CATALOGUE = load_catalogue()
# What the launcher sets itself in the child outside platform_managed (the
# metadata fallbacks it closes): name -> value.
CLOSERS = {c.name: c.value for c in CATALOGUE.closers}
LLM_KEYS = sorted(CATALOGUE.llm_keys)  # the server's list and the credential catalogue
NON_PLATFORM = (BillingMode.BYOK, BillingMode.SUBSCRIPTION, BillingMode.DISABLED)
NEEDS_CREDENTIAL = (BillingMode.BYOK, BillingMode.SUBSCRIPTION)
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _case_variants(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.title(), name.swapcase()])


key_names = st.one_of(
    st.sampled_from(LLM_KEYS).flatmap(_case_variants),
    st.sampled_from(LLM_KEYS),  # canonical spellings often enough to be usable
    st.sampled_from(sorted(LAUNCHER_OWN_VARS)),
    st.sampled_from(sorted(LAUNCHER_OWN_VARS)).flatmap(_case_variants),  # issue 10: any spelling
    st.sampled_from(["PATH", "HOME", "GITHUB_TOKEN", "EDITOR", "anthropic_api_key_backup", "OPENAI_API_KEY_FILE"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True),
)

# Every non-blank value carries the marker and a serial, so any rendering
# that quotes one is caught by a plain substring search.
_serial = iter(range(10**12))
blank_values = st.sampled_from(["", " ", "\t"])
secret_values = st.builds(lambda tail: f"sk-{MARKER}-{next(_serial):x}-{tail}", st.text("abcdef0123456789", max_size=6))
values = st.one_of(secret_values, secret_values, secret_values, blank_values)
bundles = st.dictionaries(key_names, values, max_size=12)

mode_spellings = st.one_of(
    st.sampled_from([m.value for m in BillingMode]).flatmap(
        lambda m: st.sampled_from([m, m.upper(), m.title(), f"  {m}\t", m.swapcase(), f"{m}\u200b", f"\ufeff{m} "])
    ),
    # An empty flag is CONFIG_INVALID (config/test_config.py); these fall back.
    st.sampled_from(["bring-your-own", "BYO", "platform-managed", "none", "by\u200bok"]),
)
providers = st.sampled_from(["any", "any", "anthropic-api", "anthropic-oauth", "anthropic-compatible", "openai"])


@st.composite
def platform_sources(draw: st.DrawFn) -> Source:
    values_ = draw(bundles)
    # The platform's claims are workspace, global or none (unknown); the
    # launcher scope is the launcher's own, never parsed from a response.
    claims = [s for s in Scope if s is not Scope.LAUNCHER]
    scopes = {key: draw(st.sampled_from(claims)) for key in values_ if draw(st.booleans())}
    # Keys with no row in the List response are of unknown provenance.
    return Source("platform", values_, scopes)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[object, list[Source], dict[str, str]]:
    config = load_config(
        {"billing_mode": draw(mode_spellings), "provider": draw(providers), "pristine": draw(st.booleans())},
        {"CONFIGS_DIR": "/nonexistent"},
    )
    sources = []
    if draw(st.booleans()):
        sources.append(Source("file:global.env", draw(bundles), Scope.GLOBAL))
    if draw(st.booleans()):
        sources.append(draw(platform_sources()))
    if draw(st.booleans()):
        sources.append(Source("file:ws.env", draw(bundles), Scope.WORKSPACE))
    inherited = draw(bundles)
    return config, sources, inherited


def winners(config, sources: list[Source], inherited: dict[str, str]) -> dict[str, tuple[str, Scope]]:
    """Which value, with which scope, each key ends with: later layers win."""
    layers = list(sources) if config.pristine else [Source("environment", inherited, Scope.INHERITED), *sources]
    out: dict[str, tuple[str, Scope]] = {}
    for source in layers:
        for key, value in source.values.items():
            out[key] = (value, source.scope_of(key))
    return out


def _plan(scenario) -> tuple[object, GatePlan, dict[str, tuple[str, Scope]]]:
    config, sources, inherited = scenario
    return config, run_gate(config, sources, inherited, CATALOGUE), winners(config, sources, inherited)


@PROPERTY_SETTINGS
@given(scenarios())
def test_no_llm_key_of_foreign_provenance_survives_a_non_platform_mode(scenario):
    config, result, won = _plan(scenario)
    if config.billing_mode not in NON_PLATFORM:
        return
    for key in result.env:
        if key in CLOSERS and result.env[key] == CLOSERS[key]:
            continue  # the launcher's own setting
        if CATALOGUE.is_llm_key(key):
            assert won[key][1] is Scope.WORKSPACE, f"{key} of {won[key][1].value} provenance survived"


@PROPERTY_SETTINGS
@given(scenarios())
def test_every_non_llm_key_survives_unchanged(scenario):
    config, result, won = _plan(scenario)
    for key, (value, _) in won.items():
        if not CATALOGUE.is_llm_key(key) and not is_launcher_var(key):
            if key == "HOME" and not value.strip() and config.billing_mode is not BillingMode.PLATFORM_MANAGED:
                assert key not in result.env, "a blank HOME is never passed on (test_decisions.py)"
                continue
            assert key in result.env and result.env[key] == value, f"{key} was changed or dropped"


@PROPERTY_SETTINGS
@given(scenarios())
def test_every_workspace_own_llm_key_survives(scenario):
    config, result, won = _plan(scenario)
    for key, (value, scope) in won.items():
        if CATALOGUE.is_llm_key(key) and scope is Scope.WORKSPACE and not is_launcher_var(key):
            if key.strip().upper() in CLOSERS and config.billing_mode is not BillingMode.PLATFORM_MANAGED:
                continue  # the launcher's setting replaces it (test_metadata_fallback_is_closed)
            assert result.env.get(key) == value, f"workspace-own {key} did not survive"


@PROPERTY_SETTINGS
@given(scenarios())
def test_platform_managed_keeps_everything_but_the_launcher_token(scenario):
    config, result, won = _plan(scenario)
    if config.billing_mode is not BillingMode.PLATFORM_MANAGED:
        return
    assert result.env == {k: v for k, (v, _) in won.items() if not is_launcher_var(k)}


@PROPERTY_SETTINGS
@given(scenarios())
def test_the_launcher_token_never_reaches_the_child(scenario):
    _, result, _ = _plan(scenario)
    assert not [k for k in result.env if is_launcher_var(k)]


@PROPERTY_SETTINGS
@given(scenarios())
def test_refusal_exactly_when_byok_or_subscription_has_no_usable_credential(scenario):
    config, result, won = _plan(scenario)
    provider = CATALOGUE.provider(config.provider)
    # Usable: the exact spelling a client reads, non-blank, and provably
    # the workspace's own when the mode strips anything else.
    own_or_any = (
        {k: v for k, (v, scope) in won.items() if scope is Scope.WORKSPACE or not CATALOGUE.is_llm_key(k)}
        if config.billing_mode in NON_PLATFORM
        else {k: v for k, (v, _) in won.items()}
    )
    requires_met = all(own_or_any.get(name, "").strip() for name in provider.requires)
    usable = requires_met and any(own_or_any.get(name, "").strip() for name in provider.credentials)
    # A cloud switch that is on needs a credential of its own for its backend,
    # and that credential is usable where the provider takes the backend.
    gap = False
    for backend in CATALOGUE.backends.values():
        if not any(
            own_or_any.get(s, "").strip().lower() not in ("", "0", "false", "no", "off") for s in backend.switches
        ):
            continue
        complete = any(all(own_or_any.get(n, "").strip() for n in group) for group in backend.credentials)
        gap = gap or not complete
        usable = usable or (complete and backend.name in provider.backends)
    should_refuse = config.billing_mode in NEEDS_CREDENTIAL and (not usable or gap)
    assert (result.refusal is not None) == should_refuse
    assert result.exit_code == (78 if should_refuse else 0)
    if should_refuse:
        assert result.code == "MISSING_BYOK_CREDENTIAL"


@PROPERTY_SETTINGS
@given(scenarios(), st.sampled_from(["text", "json"]))
def test_no_value_appears_in_any_rendering(scenario, log_format):
    config, result, won = _plan(scenario)
    stream = io.StringIO()
    log = Log(log_format, verbosity=3, stream=stream)
    log_plan(result, log)
    if result.refusal is not None:
        log.error(result.refusal.code, result.refusal.message)
    renderings = {
        "table": plan_table(result),
        "json": dumps(plan_json(result, config.warnings)),
        "json-ascii": json.dumps(plan_json(result, config.warnings)),
        "log": stream.getvalue(),
        "repr": repr(result),
    }
    secrets = [value for value, _ in won.values() if value.strip()]
    for name, text in renderings.items():
        assert MARKER not in text, f"a value appears in the {name} rendering"
        assert not any(value in text for value in secrets), f"a value appears in the {name} rendering"


@PROPERTY_SETTINGS
@given(mode_spellings)
def test_mode_spelling_is_case_and_space_insensitive_and_garbage_falls_back(spelling):
    config = load_config({"billing_mode": spelling}, {"CONFIGS_DIR": "/nonexistent"})
    expected = {m.value for m in BillingMode}
    if trimmed(spelling).casefold() in expected:
        assert config.billing_mode.value == trimmed(spelling).casefold()
    else:
        assert (config.billing_mode, config.billing_mode_source) == (BillingMode.PLATFORM_MANAGED, "fallback")
