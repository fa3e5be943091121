// The submit page: "Check" asks /api/v1/jobs/check (the schema, then each
// pipeline's verdict, as `sugo check`); "Submit" posts the payload and opens
// the new job's page.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const TYPES = { toml: "application/toml", yaml: "application/yaml", json: "application/json" };
  function post(path) {
    const fmt = $("format").value;
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": TYPES[fmt], "X-Sugo-Request": "1" },
      body: $("payload").value,
    });
  }
  function show(doc) {
    $("error").textContent = doc.error || "";
    const list = $("verdicts");
    list.textContent = "";
    for (const v of doc.pipelines || []) {
      const li = document.createElement("li");
      li.className = v.can_run ? "yes" : "no";
      li.dataset.pipeline = v.name;
      let text = v.name + ": ";
      if (!v.can_run) text += "cannot: " + v.reason;
      else if (v.sample === doc.sample && v.ready) text += "can run it now";
      else if (v.sample === doc.sample) text += "can run it once marked ready";
      else text += "can run it once sample '" + doc.sample + "' is loaded and marked ready (" +
        (v.sample ? "'" + v.sample + "' is loaded" : "it is empty") + ")";  // as `sugo check`
      li.textContent = text;
      list.appendChild(li);
    }
  }
  $("check").addEventListener("click", async function () {
    $("error").textContent = "checking…";
    const r = await post("/api/v1/jobs/check");
    show(await r.json());
  });
  $("submit").addEventListener("click", async function () {
    $("error").textContent = "submitting…";
    const name = $("jobname").value.trim();
    const r = await post("/api/v1/jobs" + (name ? "?jobname=" + encodeURIComponent(name) : ""));
    const doc = await r.json();
    if (r.status === 201) location.href = "/jobs/" + doc.id;
    else show(doc);
  });
})();
