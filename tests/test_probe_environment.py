"""The environment-axis probes: real host, real torch, real NVML where this machine has it."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

import pytest
import torch

from reprodiag.manifest.model import Skipped
from reprodiag.probes import environment as env_probe
from reprodiag.probes.environment import (
    GPU_FACTS,
    LIBRARIES,
    NO_DRIVER,
    NO_IMAGE,
    TORCH_FACTS,
    TORCH_MISSING,
    TORCH_NOT_IMPORTED,
    container_image,
    cpu_model,
    cudnn_version_text,
    gpu_facts,
    os_name,
    probe_environment,
    refresh_environment,
)

GPU_FIELDS = tuple(name for name, _ in GPU_FACTS)


def _has_nvidia_driver() -> bool:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_real_host_and_torch_facts():
    env = probe_environment()
    assert env.python == f"{platform.python_implementation()} {platform.python_version()}"
    assert env.kernel == platform.release()
    assert env.threads == torch.get_num_threads()
    assert env.torch_version == torch.__version__
    assert env.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert env.tf32_matmul == torch.backends.cuda.matmul.allow_tf32
    assert env.matmul_precision == torch.get_float32_matmul_precision()
    assert isinstance(env.hostname, str) and env.hostname
    if torch.version.cuda is None:
        assert env.torch_build.startswith("cpu")
        assert env.cuda == Skipped("torch is a build without CUDA")
    else:
        assert env.torch_build.startswith(f"cuda {torch.version.cuda}")
        assert env.cuda == torch.version.cuda


def test_real_no_driver_path_on_a_machine_without_gpu():
    if _has_nvidia_driver():
        pytest.skip("this machine has an NVIDIA driver")
    facts = gpu_facts()
    assert facts == {name: Skipped(NO_DRIVER) for name in GPU_FIELDS}


class FakeNVML:
    """Stands in for pynvml on a two-GPU machine.

    No GPU or NVIDIA driver exists on the machine these tests run on, so the real NVML cannot report
    GPUs here; this fake exposes the same calls nvidia-ml-py 13 does (DEPENDENCIES.md) with the
    values a two-H100 host returns, to test the GPU facts' parsing and the init/shutdown pairing.
    """

    class NVMLError(Exception):
        pass

    class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 - pynvml's own name
        pass

    def __init__(self, count: int = 2, broken: str | None = None) -> None:
        self.count, self.broken = count, broken
        self.calls: list[str] = []

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's own names from here on
        self.calls.append("init")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:  # noqa: N802
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUUID(self, handle: int) -> str:  # noqa: N802
        if self.broken == "uuid":
            raise self.NVMLError("Unknown Error")
        return f"GPU-0000000{handle}-aaaa-bbbb-cccc-dddddddddddd"

    def nvmlSystemGetDriverVersion(self) -> bytes:  # noqa: N802
        return b"550.54.15"  # nvidia-ml-py before 12 returned bytes: both must work

    def nvmlSystemGetCudaDriverVersion(self) -> int:  # noqa: N802
        return 12040


def test_two_gpu_machine_through_a_fake_nvml():
    nvml = FakeNVML()
    env = probe_environment(nvml=nvml)
    assert env.gpu_name == "NVIDIA H100 80GB HBM3"
    assert env.gpu_count == 2
    assert env.gpu_uuids == (
        "GPU-00000000-aaaa-bbbb-cccc-dddddddddddd",
        "GPU-00000001-aaaa-bbbb-cccc-dddddddddddd",
    )
    assert env.driver == "550.54.15"
    assert env.cuda_driver == "12.4"
    assert nvml.calls == ["init", "shutdown"]


def test_a_failing_gpu_fact_keeps_the_others_and_still_shuts_nvml_down():
    nvml = FakeNVML(broken="uuid")
    facts = gpu_facts(nvml)
    assert facts["gpu_uuids"] == Skipped("probe failed: NVMLError: Unknown Error")
    assert facts["gpu_count"] == 2 and facts["driver"] == "550.54.15"
    assert nvml.calls == ["init", "shutdown"]


def test_driver_without_gpus():
    facts = gpu_facts(FakeNVML(count=0))
    assert facts["gpu_name"] == Skipped("no GPU visible to NVML")
    assert (facts["gpu_count"], facts["gpu_uuids"]) == (0, ())


def test_nvml_init_failures():
    class NoLibrary(FakeNVML):
        def nvmlInit(self) -> None:  # noqa: N802
            raise self.NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    class Broken(FakeNVML):
        def nvmlInit(self) -> None:  # noqa: N802
            raise self.NVMLError("Driver/library version mismatch")

    assert gpu_facts(NoLibrary())["gpu_name"] == Skipped(NO_DRIVER, "not_applicable")
    reason = "NVML could not start: NVMLError: Driver/library version mismatch"
    assert gpu_facts(Broken())["driver"] == Skipped(reason, "failed")


def test_nvidia_ml_py_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail, as when absent
    reason = "nvidia-ml-py is not installed (import pynvml failed)"
    assert gpu_facts()["gpu_count"] == Skipped(reason, "failed")


def test_torch_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail, as when absent
    env = probe_environment(nvml=FakeNVML())
    for name, _ in TORCH_FACTS:  # the run cannot use torch: its facts do not apply
        assert getattr(env, name) == Skipped(TORCH_MISSING, "not_applicable")
    assert env.python == f"{platform.python_implementation()} {platform.python_version()}"
    assert env.gpu_count == 2


def test_torch_installed_but_not_imported_then_imported_during_the_run(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch")  # torch installed, not imported by the run (yet)
    env = probe_environment(nvml=FakeNVML())
    assert env.torch_version == Skipped(TORCH_NOT_IMPORTED, "not_applicable")
    assert env.threads == Skipped(TORCH_NOT_IMPORTED, "not_applicable")
    monkeypatch.setitem(sys.modules, "torch", torch)  # the training code imports it
    later = refresh_environment(env)
    assert later.torch_version == torch.__version__
    assert later.threads == torch.get_num_threads()
    assert refresh_environment(later) is later  # nothing new: the record is kept as it is


def test_frameworks_the_run_imported_are_probed_and_others_left_out(monkeypatch):
    import lightgbm
    import sklearn
    from threadpoolctl import threadpool_info

    monkeypatch.setitem(sys.modules, "jax", None)  # not imported by this run
    env = probe_environment(nvml=FakeNVML())
    assert "jax" not in env.frameworks and "xgboost" not in env.frameworks
    learn = env.frameworks["scikit-learn"]
    assert learn["version"] == sklearn.__version__
    assert learn["config"]["assume_finite"] == sklearn.get_config()["assume_finite"]
    openmp = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]
    assert sorted(v for k, v in learn["threads"].items() if k.startswith("openmp")) == sorted(
        openmp
    )
    assert env.frameworks["lightgbm"]["version"] == lightgbm.__version__
    assert env.libraries["lightgbm"] == lightgbm.__version__


def test_estimator_seeds_and_thread_options_are_read_from_get_params():
    import lightgbm
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from reprodiag.probes.frameworks import estimator_facts, framework_of

    forest = make_pipeline(StandardScaler(), RandomForestClassifier(random_state=7, n_jobs=2))
    seeds, options = estimator_facts(forest)
    assert seeds == {"randomforestclassifier__random_state": "7"}
    assert options["randomforestclassifier__n_jobs"] == 2
    booster = lightgbm.LGBMClassifier(random_state=3, deterministic=True, num_threads=1)
    seeds, options = estimator_facts(booster)
    assert seeds["random_state"] == "3"
    assert options["deterministic"] is True and options["num_threads"] == 1
    assert framework_of(booster) == "lightgbm" and framework_of(forest) == "scikit-learn"
    import numpy as np

    unseeded = RandomForestClassifier(random_state=np.random.RandomState(1))
    assert estimator_facts(unseeded)[0] == {"random_state": "<RandomState: not replayable>"}


@pytest.mark.parametrize(("code", "text"), [(90100, "9.1.0"), (91002, "9.10.2"), (8902, "8.9.2")])
def test_cudnn_version_text(code, text):
    assert cudnn_version_text(code) == text


def test_cuda_driver_version_text():
    class Cuda13(FakeNVML):
        def nvmlSystemGetCudaDriverVersion(self) -> int:  # noqa: N802
            return 13000

    assert gpu_facts(Cuda13())["cuda_driver"] == "13.0"


def test_container_image_from_env():
    digest = "sha256:" + "ab" * 32
    image = f"registry.example/train@{digest}"
    assert (
        container_image({"CONTAINER_IMAGE": "registry.example/train:latest", "IMAGE_DIGEST": image})
        == image
    )


def test_container_image_tag_alone_is_not_a_pin():
    with pytest.raises(env_probe.FactSkip, match="CONTAINER_IMAGE=train:latest names no digest"):
        container_image({"CONTAINER_IMAGE": "train:latest"})


def test_container_image_not_visible():
    fact = env_probe.run_fact(container_image, {})
    assert isinstance(fact, Skipped) and fact.reason.startswith(NO_IMAGE)


def test_os_name_reads_pretty_name(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    assert os_name(release) == "Debian GNU/Linux 12 (bookworm)"
    assert os_name(tmp_path / "missing") == platform.platform()


def test_cpu_model_reads_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 9654 96-Core Processor"


def test_libraries_lists_installed_versions_only():
    libs = probe_environment(nvml=FakeNVML()).libraries
    assert set(libs) <= set(LIBRARIES)
    assert libs["numpy"] == metadata.version("numpy")
    assert libs["torch"] == metadata.version("torch")
    for name, version in libs.items():
        assert version == metadata.version(name)


def test_one_failing_probe_does_not_sink_the_others(monkeypatch):
    def broken() -> Any:
        raise OSError("no /proc here")

    facts = tuple((n, broken if n == "kernel" else p) for n, p in env_probe.HOST_FACTS)
    monkeypatch.setattr(env_probe, "HOST_FACTS", facts)
    env = probe_environment(nvml=FakeNVML())
    assert env.kernel == Skipped("probe failed: OSError: no /proc here")
    assert env.os and not isinstance(env.os, Skipped)
    assert env.threads == torch.get_num_threads()
