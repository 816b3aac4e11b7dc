"""The tier policy: defaults, fixture outcomes, the value rules, TOML overrides and their errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reprodiag.errors import EXIT_GATE_FAILED, InputError, PolicyViolation
from reprodiag.manifest import Skipped, iter_facts, load_manifest
from reprodiag.policy import check_manifest, default_policy, load_policy, require_for_tier
from tests.helpers.manifests import example_manifest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ALL_AXES = ("data", "code", "environment", "randomness", "intent")

# Which tiers each scenario's manifests (baseline and candidate alike) pass; fixtures/README.md.
OUTCOMES = {
    "a-monday-wednesday": {"shipped": False, "experimental": False, "debug": True},
    "b-postmortem": {"shipped": False, "experimental": False, "debug": True},
    "c-learning-rate": {"shipped": True, "experimental": True, "debug": True},
    "d-gpu-torch": {"shipped": True, "experimental": True, "debug": True},
    "e-seed-only": {"shipped": True, "experimental": True, "debug": True},
}


def _fixture(scenario: str, side: str = "candidate"):
    return load_manifest(FIXTURES / scenario / f"{side}.json")


def _paths(result) -> list[str]:
    return [v.path for v in result.violations]


def test_default_tiers_follow_the_design_table() -> None:
    tiers = default_policy().tiers
    assert list(tiers) == ["shipped", "experimental", "debug"]
    assert tiers["shipped"].axes == ALL_AXES
    assert tiers["experimental"].axes == ("data", "code", "intent")
    assert tiers["debug"].axes == ("code", "intent")
    assert tiers["shipped"].applies_to == "serves real traffic"
    assert all(t.enforcement and t.applies_to for t in tiers.values())
    assert set(tiers["debug"].requirements) == {"code", "intent"}
    assert "environment.container_image" not in tiers["shipped"].requirements["environment"]


@pytest.mark.parametrize("side", ["baseline", "candidate"])
@pytest.mark.parametrize("scenario", sorted(OUTCOMES))
def test_each_fixture_passes_exactly_the_tiers_the_table_says(scenario: str, side: str) -> None:
    manifest = _fixture(scenario, side)
    policy = default_policy()
    outcome = {tier: check_manifest(manifest, tier, policy).passed for tier in policy.tiers}
    assert outcome == OUTCOMES[scenario]


def test_monday_wednesday_candidate_lists_every_missing_fact_for_shipped() -> None:
    result = check_manifest(_fixture("a-monday-wednesday"), policy=default_policy())
    assert result.tier == "shipped" and not result.passed and result.checked == 22
    assert _paths(result) == [
        "data.train.version",
        "data.train.fingerprint",
        "environment.cpu_capability",
        "environment.threads",
        "randomness.python_seed",
        "randomness.numpy_seed",
        "randomness.cuda_seed",
        "randomness.deterministic_algorithms",
    ]
    assert str(result.violations[0]) == (
        "data.train.version: skipped: read as latest; no version recorded"
    )
    assert result.failed_axes == ("data", "environment", "randomness")


def test_a_cpu_only_run_passes_without_gpu_facts_but_a_gpu_run_needs_them() -> None:
    cpu = example_manifest()
    assert check_manifest(cpu, "shipped", default_policy()).passed
    gpu_env = replace(
        cpu.environment,
        torch_version="2.13.0+cu128",
        torch_build="cuda 12.8",
        gpu_name="NVIDIA H100 80GB HBM3",
        gpu_count=1,
        cuda=Skipped("not read"),
        driver=Skipped("NVML query failed"),
    )
    result = check_manifest(replace(cpu, environment=gpu_env), "shipped", default_policy())
    assert _paths(result) == ["environment.driver", "environment.cuda"]


def test_gpu_facts_missing_for_an_unknown_reason_fail_on_a_cuda_build() -> None:
    cpu = example_manifest()
    unknown = Skipped("nvidia-ml-py is not installed (import pynvml failed)")
    env = replace(
        cpu.environment,
        torch_version="2.13.0+cu128",
        torch_build="cuda 12.8",
        cuda="12.8",
        gpu_name=unknown,
        gpu_count=unknown,
        driver=unknown,
    )
    result = check_manifest(replace(cpu, environment=env), "shipped", default_policy())
    assert _paths(result) == ["environment.gpu_name", "environment.gpu_count", "environment.driver"]


def test_dirty_tree_fails_shipped_even_with_a_digest_and_needs_one_elsewhere() -> None:
    base = example_manifest()
    dirty = replace(base, code=replace(base.code, dirty=True))
    policy = default_policy()
    shipped = check_manifest(dirty, "shipped", policy)
    assert _paths(shipped) == ["code.dirty"] and "clean tree" in shipped.violations[0].reason
    assert check_manifest(dirty, "experimental", policy).passed
    no_digest = replace(dirty, code=replace(dirty.code, diff_sha256=Skipped("git diff failed")))
    assert "no digest" in check_manifest(no_digest, "debug", policy).violations[0].reason


def test_deterministic_flag_must_be_recorded_and_may_be_false() -> None:
    base = example_manifest()
    off = replace(base, randomness=replace(base.randomness, deterministic_algorithms=False))
    assert check_manifest(off, "shipped", default_policy()).passed


def test_plain_files_are_pinned_by_their_fingerprint() -> None:
    base = example_manifest()
    files = replace(
        base.data.train,
        format="files",
        uri="/data/parquet",
        version=Skipped("plain files have no versions"),
    )
    assert check_manifest(
        replace(base, data=replace(base.data, train=files)), "shipped", default_policy()
    ).passed


def test_a_skipped_snapshot_and_empty_params_are_violations() -> None:
    base = example_manifest()
    no_train = Skipped("no training snapshot given to capture")
    bare = replace(
        base, data=replace(base.data, train=no_train), intent=replace(base.intent, params={})
    )
    result = check_manifest(bare, "experimental", default_policy())
    assert [str(v) for v in result.violations] == [
        "data.train.version: skipped: no training snapshot given to capture",
        "data.train.fingerprint: skipped: no training snapshot given to capture",
        "intent.params: empty: nothing recorded",
    ]


def test_a_manifest_without_a_tier_asks_for_one() -> None:
    base = example_manifest()
    untiered = replace(base, intent=replace(base.intent, tier=Skipped("no tier given")))
    with pytest.raises(InputError, match="--tier"):
        check_manifest(untiered, policy=default_policy())
    # with --tier it is checked, and the unrecorded tier is itself an intent violation
    assert _paths(check_manifest(untiered, "debug", default_policy())) == ["intent.tier"]


def test_an_unknown_tier_names_the_known_ones() -> None:
    with pytest.raises(InputError, match="shipped, experimental, debug"):
        check_manifest(example_manifest(), "production", default_policy())


def test_require_for_tier_refuses_listing_every_missing_fact_and_the_next_step() -> None:
    with pytest.raises(PolicyViolation) as err:
        require_for_tier("shipped", _fixture("b-postmortem"), policy=default_policy())
    text = str(err.value)
    assert err.value.exit_code == EXIT_GATE_FAILED == 1
    for path in (
        "data.train.version",
        "data.train.fingerprint",
        "randomness.python_seed",
        "randomness.numpy_seed",
        "randomness.torch_seed",
        "randomness.cuda_seed",
        "randomness.deterministic_algorithms",
    ):
        assert path in text
    assert "7 of 22" in text
    assert "requires data.train pinned to a snapshot version" in text
    assert "open_snapshot" in text and "deterministic_seeds" in text


def test_require_for_tier_accepts_flat_facts_and_passes_silently() -> None:
    facts = dict(iter_facts(_fixture("c-learning-rate")))
    assert require_for_tier("shipped", facts, policy=default_policy()) is None
    facts["code.lock"] = Skipped("no lock file found")
    with pytest.raises(PolicyViolation, match="code.lock: skipped: no lock file found"):
        require_for_tier("debug", facts, policy=default_policy())


# -- TOML ---------------------------------------------------------------------------------------


def _pyproject(folder: Path, body: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text('[project]\nname = "ctr"\n\n' + body)
    return path


def test_a_pyproject_table_changes_the_outcome(tmp_path: Path) -> None:
    _pyproject(
        tmp_path,
        "[tool.reprodiag.policy.require]\n"
        'environment = ["environment.container_image"]\n'
        "[tool.reprodiag.policy.tiers.shipped]\nrequire_deterministic = true\n",
    )
    nested = tmp_path / "src" / "ctr"
    nested.mkdir(parents=True)
    policy = load_policy(start=nested)  # found from a subfolder, upward
    assert policy.source == str(tmp_path / "pyproject.toml")
    base = _fixture("c-learning-rate")
    assert check_manifest(base, policy=policy).passed
    no_image = replace(
        base,
        environment=replace(base.environment, container_image=Skipped("none")),
        randomness=replace(base.randomness, deterministic_algorithms=False),
    )
    assert check_manifest(no_image, policy=default_policy()).passed
    assert _paths(check_manifest(no_image, policy=policy)) == [
        "environment.container_image",
        "randomness.deterministic_algorithms",
    ]
    # defaults are kept under the override
    assert "code.commit" in policy.tiers["shipped"].requirements["code"]


def test_a_project_can_change_axes_and_add_a_tier(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(
        '[tiers.debug]\naxes = ["data", "code", "intent"]\n'
        '[tiers.nightly]\napplies_to = "nightly benchmarks"\n'
        'axes = ["randomness"]\n'
        'require = { randomness = ["randomness.pythonhashseed"] }\n'
    )
    policy = load_policy(policy_file)
    assert list(policy.tiers) == ["shipped", "experimental", "debug", "nightly"]
    a = _fixture("a-monday-wednesday")
    assert not check_manifest(a, "debug", policy).passed
    nightly = check_manifest(a, "nightly", policy)
    assert "randomness.pythonhashseed" in _paths(nightly) and nightly.checked == 6


def test_no_pyproject_means_the_defaults(tmp_path: Path) -> None:
    _pyproject(tmp_path, "[tool.ruff]\nline-length = 100\n")
    assert load_policy(start=tmp_path).tiers == default_policy().tiers


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        (
            '[tool.reprodiag.policy.tiers.shipped]\naxes = ["data", "code", "enviroment"]\n',
            "tool.reprodiag.policy.tiers.shipped.axes[2]",
            "'enviroment' is not an axis",
        ),
        (
            '[tool.reprodiag.policy]\nprior = ["code"]\n',
            "tool.reprodiag.policy.prior",
            "unknown key",
        ),
        (
            '[tool.reprodiag.policy.tiers.debug]\nenforce = "ci"\n',
            "tool.reprodiag.policy.tiers.debug.enforce",
            "unknown key",
        ),
        (
            '[tool.reprodiag.policy.tiers.debug]\naxes = "code"\n',
            "tool.reprodiag.policy.tiers.debug.axes",
            "expected an array, found a string",
        ),
        (
            '[tool.reprodiag.policy.tiers.shipped]\nrequire_deterministic = "yes"\n',
            "tool.reprodiag.policy.tiers.shipped.require_deterministic",
            "expected true or false",
        ),
        (
            '[tool.reprodiag.policy.require]\ncode = ["code.comit"]\n',
            "tool.reprodiag.policy.require.code[0]",
            "no field 'comit'",
        ),
        (
            '[tool.reprodiag.policy.require]\ncode = ["environment.python"]\n',
            "tool.reprodiag.policy.require.code[0]",
            "not a fact of the code axis",
        ),
        (
            '[tool.reprodiag.policy.require]\nresults = ["results.metrics"]\n',
            "tool.reprodiag.policy.require.results",
            "'results' is not an axis",
        ),
        (
            '[tool.reprodiag.policy.tiers.debug.require]\ndata = ["data.train.version"]\n',
            "tool.reprodiag.policy.tiers.debug.require.data",
            "does not enforce the data axis",
        ),
        (
            '[tool.reprodiag.policy.tiers.nightly]\napplies_to = "nightly"\n',
            "tool.reprodiag.policy.tiers.nightly",
            "must list its axes",
        ),
    ],
)
def test_bad_policy_names_the_file_the_key_path_and_the_fix(
    tmp_path: Path, body: str, where: str, says: str
) -> None:
    path = _pyproject(tmp_path, body)
    with pytest.raises(InputError) as err:
        load_policy(path)
    assert err.value.message.startswith(f"{path}: {where}: ")
    assert says in err.value.message
    assert err.value.hint and err.value.exit_code == 3


def test_a_standalone_policy_file_uses_bare_key_paths(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[tiers.shipped]\naxes = ["data", 3]\n')
    with pytest.raises(InputError, match=r"policy.toml: tiers.shipped.axes\[1\]: 3 is not an axis"):
        load_policy(path)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("policy.toml", "[tiers.shipped\naxes = []\n", "not valid TOML"),
        ("pyproject.toml", "[project]\nname = 'x'\n", r"no \[tool.reprodiag.policy\] table"),
    ],
)
def test_unreadable_policy_files(tmp_path: Path, name: str, text: str, says: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=says):
        load_policy(path)
    with pytest.raises(InputError, match="no such policy file"):
        load_policy(tmp_path / "absent.toml")


def test_a_fact_that_does_not_apply_is_never_a_hole_and_a_tier_can_waive_one(
    tmp_path: Path,
) -> None:
    """A scikit-learn run: torch facts not applicable (kind), or skipped as 'torch is not
    installed' by an older reprodiag (kind failed); neither is a violation. A fact that failed
    for another reason still is, unless the tier waives it by name."""
    base = example_manifest()
    no_torch = Skipped("torch is not installed", "not_applicable")
    sklearn_run = replace(
        base,
        environment=replace(
            base.environment,
            torch_version=no_torch,
            cpu_capability=Skipped("torch is not installed", "failed"),  # as 0.1 wrote it
            threads=Skipped("the run did not import torch", "not_applicable"),
        ),
        randomness=replace(
            base.randomness,
            torch_seed=no_torch,
            cuda_seed=no_torch,
            deterministic_algorithms=no_torch,
        ),
    )
    result = check_manifest(sklearn_run, "shipped", default_policy())
    assert result.passed and result.waived == ()
    assert set(result.not_applicable) >= {
        "environment.torch_version",
        "environment.cpu_capability",
        "environment.threads",
        "randomness.torch_seed",
        "randomness.cuda_seed",
        "randomness.deterministic_algorithms",
    }
    broken = replace(
        sklearn_run,
        environment=replace(sklearn_run.environment, python=Skipped("probe failed: x", "failed")),
    )
    assert _paths(check_manifest(broken, "shipped", default_policy())) == ["environment.python"]
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('[tiers.shipped]\nwaive = { environment = ["environment.python"] }\n')
    policy = load_policy(policy_file)
    assert policy.tiers["shipped"].waived == ("environment.python",)
    assert "environment.python" not in policy.tiers["shipped"].requirements["environment"]
    waived = check_manifest(broken, "shipped", policy)
    assert waived.passed and waived.waived == ("environment.python",)
    assert "environment.python" in default_policy().tiers["shipped"].requirements["environment"]
    policy_file.write_text('[tiers.shipped]\nwaive = { environment = ["environment.pyhton"] }\n')
    with pytest.raises(InputError, match="pyhton"):
        load_policy(policy_file)
