"""RO-Crates of jobs (tomato 2.2): a payload naming repositories gets
results.<id>.zip, opened here with the `rocrate` library; an unknown
repository is refused at submit; `sugo job crate ID` makes one for any
finished job."""

import json
from pathlib import Path

import pytest
from rocrate.rocrate import ROCrate

from sugo.errors import RequestFailed
from sugo.jobs.crate import NETCDF, PROFILE_URI
from sugo.protocol import daemon_api as api
from tests.integration.harness import DATA, DaemonHarness

pytestmark = pytest.mark.integration
TOMATO = DATA / "tomato"
REPOSITORIES = '\n[repositories.default]\nendpoint = "https://repository.example/"\n'


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory):
    daemon = DaemonHarness(
        tmp_path_factory.mktemp("crate"),
        (TOMATO / "devices_counter.json").read_text(),
        "devices.json",
        REPOSITORIES,
    )
    daemon.start(timeout=60)
    yield daemon
    daemon.stop()


def entities(crate: ROCrate) -> dict[str, dict]:
    return {e.id: e.properties() for e in crate.get_entities()}


def test_a_payload_with_repositories_gets_a_crate(h: DaemonHarness) -> None:
    h.load_ready("pip-counter-1", "rocrate_1_0.1")
    job = h.wait_job(h.submit(TOMATO / "rocrate_1_0.1.yml")["id"], timeout=30)
    assert job["status"] == "c"
    respath = Path(job["respath"])
    zip_path = respath.with_suffix(".zip")
    assert zip_path.name == f"results.{job['id']}.zip" and zip_path.is_file()

    crate = ROCrate(str(zip_path))
    found = entities(crate)
    data = found[respath.name]
    assert data["encodingFormat"] == NETCDF
    assert data["author"] == {"@id": "user.identifier"}
    assert "Person" in str(found["user.identifier"]["@type"])
    # the sample, and the child object the job made of it (sample_is_parent)
    sample = found["rocrate_1_0.1"]
    assert sample["@type"] == "RepositoryObject"
    child = found[sample["hasPart"]["@id"]]
    assert child["@type"] == "RepositoryObject" and child["hasPart"] == {"@id": "./"}
    root = found["./"]
    assert root["conformsTo"] == {"@id": PROFILE_URI}
    assert found[PROFILE_URI]["@type"] == "Profile"
    action = found[f"#sugo-job-{job['id']}"]
    assert action["@type"] == "CreateAction" and action["result"] == {"@id": respath.name}
    assert json.loads(action["sugo_job"])["id"] == job["id"]
    # the NetCDF file itself is in the zip, unchanged
    extracted = h.root / "extracted"
    crate.write(str(extracted))
    assert (extracted / respath.name).read_bytes() == respath.read_bytes()


def test_an_unknown_repository_is_refused_at_submit(h: DaemonHarness) -> None:
    before = h.call(api.Jobs())["jobs"]
    body = (TOMATO / "rocrate_1_0.1.yml").read_text().replace('["default"]', '["zenodo"]')
    with pytest.raises(RequestFailed) as err:
        h.submit(body, fmt="yaml")
    assert "unknown repository 'zenodo'" in str(err.value)
    assert "[repositories] has: default" in str(err.value)
    assert h.call(api.Jobs())["jobs"] == before


def test_sugo_job_crate_for_any_finished_job(h: DaemonHarness) -> None:
    body = """
version = "2.2"
sample = { identifier = "kept", sample_is_parent = false }
user = { identifier = "ada" }
[[method]]
component_role = "counter"
technique_name = "count"
max_duration = 0.3
sampling_interval = 0.1
"""
    h.load_ready("pip-counter-2", "kept")
    job = h.wait_job(h.submit(body)["id"], timeout=30)
    zip_path = Path(job["respath"]).with_suffix(".zip")
    assert job["status"] == "c" and not zip_path.exists()  # no repositories: no crate
    out = h.cli("--json", "job", "crate", str(job["id"]))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["crate"] == str(zip_path)
    found = entities(ROCrate(str(zip_path)))
    # not a parent: the data belongs to the sample itself
    assert found["kept"]["hasPart"] == {"@id": "./"}
    assert found[Path(job["respath"]).name]["author"] == {"@id": "ada"}
    bad = h.cli("job", "crate", "999")
    assert bad.returncode == 1 and "999" in bad.stderr
