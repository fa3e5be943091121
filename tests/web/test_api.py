"""The HTTP API of a real `sugo web` process in front of a real daemon: every
route, and the bad cases with the CLI's meaning and message."""

import json
from pathlib import Path

import h5netcdf
import pytest

from tests.integration.harness import DATA, DaemonHarness, wait_for
from tests.web.webserver import WebServer, payload

pytestmark = pytest.mark.integration

TOML = {"Content-Type": "application/toml"}
COMP = "counter:(sim-counter,1)"


def _ready(web: WebServer, pipeline: str, sample: str) -> None:
    web.post(f"/api/v1/pipelines/{pipeline}/eject")
    assert web.post(f"/api/v1/pipelines/{pipeline}/load", {"sample": sample}).status == 200
    assert web.post(f"/api/v1/pipelines/{pipeline}/ready").status == 200


def _submit(web: WebServer, text: str, **query: str) -> dict:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    r = web.post("/api/v1/jobs" + (f"?{q}" if q else ""), text, headers=TOML)
    assert r.status == 201, r.body
    assert r.headers["location"] == f"/api/v1/jobs/{r.json['id']}"
    return r.json


def _wait(web: WebServer, jobid: int, codes: tuple[str, ...] = ("c", "ce", "cd")) -> dict:
    return wait_for(
        lambda: (j := web.get(f"/api/v1/jobs/{jobid}").json)["code"] in codes and j,
        60, f"job {jobid} to reach {codes}",
    )  # fmt: skip


def test_status_pipelines_components_and_openapi(web: WebServer) -> None:
    st = web.get("/api/v1/status")
    assert st.status == 200 and st.json["ready"] is True
    assert {p["name"] for p in st.json["pipelines"]} >= {"pip-counter-1", "pip-demo"}
    pipes = web.get("/api/v1/pipelines").json["pipelines"]
    assert {"name", "ready", "sample", "jobid", "components"} <= set(pipes[0])
    comps = web.get("/api/v1/components").json["components"]
    one = next(c for c in comps if c["name"] == COMP)
    assert one["code"] == 100 and one["label"] == "connected" and one["maintenance"] == []
    doc = web.get("/api/v1/openapi.json").json
    for route in ("/api/v1/status", "/api/v1/jobs", "/api/v1/jobs/{jobid}/stream",
                  "/api/v1/pipelines/{name}/load", "/api/v1/events"):  # fmt: skip
        assert route in doc["paths"], route
    page = web.get("/")
    assert page.status == 200 and b"pip-counter-1" in page.body


def test_pipeline_load_eject_ready_and_refusals(web: WebServer) -> None:
    base = "/api/v1/pipelines/pip-counter-2"
    web.post(f"{base}/eject")
    loaded = web.post(f"{base}/load", {"sample": "S-9"})
    assert loaded.status == 200 and loaded.json["sample"] == "S-9" and not loaded.json["ready"]
    again = web.post(f"{base}/load", {"sample": "S-10"})
    cli = web.cli("--json", "pipeline", "load", "pip-counter-2", "S-10")
    assert again.status == 409 and again.json["error"] == json.loads(cli.stdout)["error"]
    assert web.post(f"{base}/ready").json["ready"] is True
    assert web.post(f"{base}/eject").json["sample"] is None
    assert web.post(f"{base}/load", {}).status == 422  # no sample
    missing = web.post("/api/v1/pipelines/nope/ready")
    assert missing.status == 404 and missing.json["error"].startswith("no pipeline 'nope'")


def test_components_status_attrs_get_set_measure_reset_restart(web: WebServer) -> None:
    from urllib.parse import quote

    base = "/api/v1/components/" + quote(COMP)
    assert web.get(base).status == 200
    attrs = web.get(f"{base}/attrs").json
    assert "max" in attrs
    assert web.post(f"{base}/attrs/max", {"value": 7}).status == 200
    assert web.get(f"{base}/attrs/max").json["value"] == 7
    measured = web.get(f"{base}/measure").json
    assert set(measured) == {"task", "status"}
    assert web.post(f"{base}/reset").status == 200
    assert web.post(f"{base}/restart").status == 200
    wait_for(lambda: web.get(base).status == 200, 15, "the component back")
    unknown = web.get("/api/v1/components/" + quote("counter:(nope,1)"))
    assert unknown.status == 404 and "no component" in unknown.json["error"]
    events = web.daemon.cli("--json", "events").stdout
    assert '"component.set_attr"' in events and '"by": "web:loopback"' in events


def test_submit_follow_data_log_tasks_wait(web: WebServer) -> None:
    _ready(web, "pip-counter-1", "S-1")
    job = _submit(web, payload("S-1", (1.0, 0.1), (0.5, 0.1)), jobname="web-run")
    assert job["status"] in ("pending", "running") and job["code"] in ("q", "qw", "r")
    assert job["links"]["cancel"] == f"/api/v1/jobs/{job['id']}/cancel"
    waited = web.get(f"/api/v1/jobs/{job['id']}/wait?timeout=60")
    assert waited.status == 200 and waited.json["code"] == "c"
    done = web.get(f"/api/v1/jobs/{job['id']}").json
    assert done["status"] == "completed" and done["jobname"] == "web-run"
    assert done["input"]["method"][0]["max_duration"] == 1.0
    assert done["timeRequested"] and done["timeStarted"] and done["timeCompleted"]
    assert done["output"] == f"/api/v1/jobs/{job['id']}/data?format=netcdf"
    tasks = web.get(f"/api/v1/jobs/{job['id']}/tasks").json["tasks"]
    assert [t["state"] for t in tasks] == ["completed", "completed"]
    data = web.get(f"/api/v1/jobs/{job['id']}/data").json
    assert data["source"] == "results"
    counter = data["roles"]["counter"]
    assert len(counter["uts"]) == 15 and set(counter["task"]) == {0, 1}
    assert counter["points"] == 15 and data["next"] is None
    # A long job's points come a page at a time: the pages add up to the whole.
    page = web.get(f"/api/v1/jobs/{job['id']}/data?limit=10").json
    assert len(page["roles"]["counter"]["uts"]) == 10 and page["roles"]["counter"]["points"] == 15
    rest = web.get(page["next"]).json
    assert rest["next"] is None and rest["roles"]["counter"]["offset"] == 10
    assert page["roles"]["counter"]["uts"] + rest["roles"]["counter"]["uts"] == counter["uts"]
    for col, values in counter["columns"].items():
        assert (
            page["roles"]["counter"]["columns"][col] + rest["roles"]["counter"]["columns"][col]
            == values
        )
    assert web.get(f"/api/v1/jobs/{job['id']}/data?limit=0").status == 422
    nc = web.get(f"/api/v1/jobs/{job['id']}/data?format=netcdf")
    assert nc.status == 200 and nc.body[:4] == b"\x89HDF"
    log = web.get(f"/api/v1/jobs/{job['id']}/log").json
    assert any("ended c" in line for line in log["lines"])
    assert web.get(f"/api/v1/jobs/{job['id']}/log?offset={log['offset']}").json["lines"] == []
    listed = web.get("/api/v1/jobs?status=completed&name=web-").json["jobs"]
    assert job["id"] in [j["id"] for j in listed]
    assert web.get("/api/v1/jobs?status=r").json["jobs"] == []


def test_submit_yaml_and_json_bodies(web: WebServer) -> None:
    text = (DATA / "tomato" / "counter_1_0.1.yml").read_text()
    r = web.post("/api/v1/jobs", text, headers={"Content-Type": "application/yaml"})
    assert r.status == 201
    doc = {"version": "2.2", "sample": {"identifier": "J"}, "method": [
        {"component_role": "counter", "technique_name": "count", "max_duration": 1,
         "sampling_interval": 0.1}]}  # fmt: skip
    r2 = web.post("/api/v1/jobs?jobname=as-json", doc)
    assert r2.status == 201 and r2.json["jobname"] == "as-json"
    for jobid in (r.json["id"], r2.json["id"]):
        assert web.post(f"/api/v1/jobs/{jobid}/cancel").status == 202
        assert web.get(f"/api/v1/jobs/{jobid}").json["code"] == "cd"


def test_bad_payload_is_422_with_the_clis_message(web: WebServer, root: Path) -> None:
    bad = DATA / "malformed" / "payload_missing_sample.yml"
    cli = web.cli("--json", "submit", str(bad))
    assert cli.returncode == 1
    r = web.post(f"/api/v1/jobs?source={bad}", bad.read_text(),
                 headers={"Content-Type": "application/yaml"})  # fmt: skip
    assert r.status == 422
    assert r.json["error"] == json.loads(cli.stdout)["error"]
    syntax = web.post("/api/v1/jobs", "[[[", headers=TOML)
    assert syntax.status == 422 and "payload" in syntax.json["error"]
    assert web.post("/api/v1/jobs", "x", headers={"Content-Type": "text/plain"}).status == 415


def test_payload_no_pipeline_can_run_is_409_with_the_clis_message(
    web: WebServer, root: Path
) -> None:
    text = payload("S-1", (1.0, 0.1), role="nosuchrole")
    path = root / "norole.toml"
    path.write_text(text)
    cli = web.cli("--json", "submit", str(path))
    assert cli.returncode == 1
    r = web.post(f"/api/v1/jobs?source={path}", text, headers=TOML)
    assert r.status == 409 and r.json["error"] == json.loads(cli.stdout)["error"]
    check = web.post("/api/v1/jobs/check", text, headers=TOML).json
    assert check["error"].startswith("no pipeline can run payload")
    assert all(not v["can_run"] and "no role 'nosuchrole'" in v["reason"]
               for v in check["pipelines"])  # fmt: skip
    ok = web.post("/api/v1/jobs/check", payload("S-1", (1.0, 0.1)), headers=TOML).json
    assert "error" not in ok and any(v["can_run"] for v in ok["pipelines"])


def test_unknown_job_is_404_on_every_job_route(web: WebServer) -> None:
    routes = [("GET", ""), ("POST", "/cancel"), ("GET", "/log"), ("GET", "/tasks"),
              ("GET", "/data"), ("GET", "/wait?timeout=1"), ("GET", "/stream")]  # fmt: skip
    for method, path in routes:
        r = web.request(method, f"/api/v1/jobs/999999{path}")
        assert r.status == 404, (method, path, r.body)
        assert r.json["error"] == "no job 999999"
    assert web.get("/api/v1/jobs/abc").status == 422
    assert web.get("/jobs/999999").status == 404


def test_cancel_running_job_and_wait_timeout(web: WebServer) -> None:
    _ready(web, "pip-counter-3", "S-3")
    job = _submit(web, payload("S-3", (60.0, 0.1)))
    _wait(web, job["id"], ("r",))
    slow = web.get(f"/api/v1/jobs/{job['id']}/wait?timeout=0.3")
    assert slow.status == 408 and "not ended" in slow.json["error"]
    r = web.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert r.status == 202 and r.json["code"] in ("rd", "cd")
    assert _wait(web, job["id"])["status"] == "cancelled"
    again = web.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status == 409 and "already ended" in again.json["error"]


def test_event_stream_starts_from_now_and_resumes_with_last_event_id(web: WebServer) -> None:
    with web.sse("/api/v1/events") as events:
        web.post("/api/v1/pipelines/pip-counter-4/eject")
        web.post("/api/v1/pipelines/pip-counter-4/load", {"sample": "E-1"})
        # Components report health changes at any time: skip those, the first
        # pipeline event must be ours (the stream starts from now).
        first = next(events)
        while json.loads(first["data"])["kind"].startswith("component."):
            first = next(events)
        assert json.loads(first["data"])["kind"] in ("pipeline.ejected", "pipeline.loaded")
        got = [first]
        while json.loads(got[-1]["data"])["kind"] != "pipeline.loaded":
            got.append(next(events))
    loaded = json.loads(got[-1]["data"])
    assert loaded["data"] == {"sample": "E-1", "by": "web:loopback"}
    # Resume from just before it: the missed event comes first, in order.
    with web.sse("/api/v1/events", last_event_id=str(loaded["id"] - 1)) as events:
        assert int(next(events)["id"]) == loaded["id"]
    assert web.get("/api/v1/events", headers={"Last-Event-ID": "x"}).status == 422


def test_job_stream_sends_points_then_end_and_resumes(web: WebServer) -> None:
    _ready(web, "pip-counter-4", "S-4")
    job = _submit(web, payload("S-4", (1.5, 0.1)))
    points, cursor = 0, None
    with web.sse(f"/api/v1/jobs/{job['id']}/stream") as events:
        for e in events:
            if e.get("event") == "points":
                chunks = json.loads(e["data"])["chunks"]
                points += sum(len(c["uts"]) for c in chunks)
                assert all(c["role"] == "counter" and "value" in c["columns"] for c in chunks)
                cursor = e["id"]
            if e.get("event") == "end":
                assert json.loads(e["data"])["code"] == "c"
                break
    assert points == 15 and cursor is not None
    with web.sse(f"/api/v1/jobs/{job['id']}/stream", last_event_id=cursor) as events:
        kinds = [e.get("event") for e in events]
    assert "points" not in kinds and kinds[-1] == "end"


def test_a_client_that_hangs_up_leaves_the_server_serving(web: WebServer) -> None:
    import socket

    for _ in range(3):
        with socket.create_connection((web.host, web.port)) as s:
            s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
    assert web.get("/api/v1/status").status == 200


def test_the_cli_stays_free_of_fastapi(lab: DaemonHarness) -> None:
    import subprocess
    import sys

    code = ("import sys; from sugo.cli.main import main; main(['status']);"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('fastapi', 'starlette', 'uvicorn', 'jinja2')))")  # fmt: skip
    env = {"SUGO_PORT": str(lab.port), "SUGO_APPDIR": str(lab.appdir), "PATH": "/usr/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, check=False)  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_results_file_link_is_the_netcdf_of_the_job(web: WebServer, root: Path) -> None:
    _ready(web, "pip-counter-2", "S-2")
    job = _submit(web, payload("S-2", (0.5, 0.1)))
    _wait(web, job["id"])
    body = web.get(f"/api/v1/jobs/{job['id']}/data?format=netcdf").body
    (root / "got.nc").write_bytes(body)
    with h5netcdf.File(root / "got.nc", "r") as f:
        assert "counter" in f.groups


def test_the_job_list_follows_changes_made_elsewhere(web: WebServer) -> None:
    """The list is cached until the daemon's event log says something changed:
    a job queued and cancelled by the CLI shows up, and then as cancelled."""
    before = web.get("/api/v1/jobs").json["jobs"]
    job = web.daemon.submit(payload("nowhere-loaded", (1.0, 0.1)))
    wait_for(lambda: job["id"] in [j["id"] for j in web.get("/api/v1/jobs").json["jobs"]],
             10, "the new job in the list")  # fmt: skip
    assert web.daemon.cli("cancel", str(job["id"])).returncode == 0

    def cancelled() -> bool:
        listed = {j["id"]: j for j in web.get("/api/v1/jobs").json["jobs"]}
        return listed[job["id"]]["code"] == "cd"

    wait_for(cancelled, 10, "the job cancelled in the list")
    assert len(web.get("/api/v1/jobs").json["jobs"]) == len(before) + 1
