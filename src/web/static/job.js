// A job's page: one plot panel per unit for each role (task boundaries as
// dashed lines, as `sugo job plot`), fed by the job's SSE stream while it runs
// (or its data once it has ended); the status, task states and log follow.
(function () {
  "use strict";
  const root = document.getElementById("job");
  const id = root.dataset.id;
  const FINAL = ["c", "ce", "cd"];
  const roles = new Map();  // role -> {uts, task, cols: Map(name -> []), units, seen, plots, dirty}
  let t0 = null;
  const labels = new Map();  // task index -> technique, for the boundary marks

  function role(name) {
    let r = roles.get(name);
    if (!r) {
      r = { uts: [], task: [], cols: new Map(), units: {}, seen: new Set(), plots: [], dirty: true, shape: "" };
      roles.set(name, r);
    }
    return r;
  }

  function add(name, uts, task, columns, units) {
    const r = role(name);
    const n = uts.length;
    for (const c of Object.keys(columns)) {
      if (!r.cols.has(c)) r.cols.set(c, new Array(r.uts.length).fill(null));
    }
    for (const [c, arr] of r.cols) {
      const src = columns[c];
      for (let i = 0; i < n; i++) arr.push(src ? src[i] : null);
    }
    for (let i = 0; i < n; i++) { r.uts.push(uts[i]); r.task.push(task[i]); }
    Object.assign(r.units, units || {});
    if (n && (t0 === null || uts[0] < t0)) t0 = uts[0];
    r.dirty = true;
  }

  function onChunk(ch) {
    const r = role(ch.role);
    const key = ch.task + ":" + ch.seq;
    if (r.seen.has(key)) return;  // a chunk sent again after a reconnect
    r.seen.add(key);
    add(ch.role, ch.uts, new Array(ch.uts.length).fill(ch.task), ch.columns, ch.units);
  }

  function panels(r) {
    const groups = new Map();
    for (const c of r.cols.keys()) {
      const u = r.units[c] || "";
      if (!groups.has(u)) groups.set(u, []);
      groups.get(u).push(c);
    }
    return groups;
  }

  function taskLines(r) {
    return {
      draw: [function (u) {
        const xs = u.data[0], ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#666"; ctx.setLineDash([4, 4]); ctx.lineWidth = 1;
        ctx.fillStyle = "#444"; ctx.font = "11px sans-serif";
        for (let i = 0; i < xs.length; i++) {
          if (i > 0 && r.task[i] === r.task[i - 1]) continue;
          const x = u.valToPos(xs[i], "x", true);
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          ctx.fillText(" " + (labels.get(r.task[i]) || "task " + r.task[i]), x, u.bbox.top + 12);
        }
        ctx.restore();
      }],
    };
  }

  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

  function build(name, r) {
    const plotsDiv = document.getElementById("plots");
    let block = document.querySelector('.role-block[data-role="' + CSS.escape(name) + '"]');
    if (!block) {
      block = document.createElement("div");
      block.className = "role-block";
      block.dataset.role = name;
      const h = document.createElement("h3");
      h.textContent = "role " + name;
      block.appendChild(h);
      plotsDiv.appendChild(block);
    }
    for (const p of r.plots) p.plot.destroy();
    r.plots = [];
    const width = Math.max(300, plotsDiv.clientWidth - 30);
    for (const [unit, names] of panels(r)) {
      const series = [{ label: "t [s]" }].concat(names.map((n, i) => ({
        label: n, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true,
      })));
      const opts = {
        width: width, height: 200, series: series, hooks: taskLines(r),
        axes: [{ label: "time since the first point [s]" }, { label: unit ? "[" + unit + "]" : "(no units)" }],
        scales: { x: { time: false } },
      };
      const div = document.createElement("div");
      div.className = "panel";
      div.dataset.unit = unit;
      block.appendChild(div);
      r.plots.push({ names: names, plot: new uPlot(opts, data(r, names), div) });
    }
  }

  function data(r, names) {
    const xs = r.uts.map((t) => t - t0);
    return [xs].concat(names.map((n) => r.cols.get(n)));
  }

  function redraw() {
    for (const [name, r] of roles) {
      if (!r.dirty) continue;
      r.dirty = false;
      const shape = Array.from(panels(r), ([u, ns]) => u + "=" + ns.join(",")).join(";");
      if (shape !== r.shape) { r.shape = shape; build(name, r); }
      else for (const p of r.plots) p.plot.setData(data(r, p.names));
      const block = document.querySelector('.role-block[data-role="' + CSS.escape(name) + '"]');
      if (block) block.dataset.points = String(r.uts.length);
    }
  }
  setInterval(redraw, 250);

  function showJob(job) {
    const st = document.getElementById("status");
    st.textContent = job.status + " (" + job.code + ")";
    st.className = "st st-" + job.status;
    st.dataset.code = job.code;
    root.dataset.code = job.code;
    document.getElementById("pipeline").textContent = job.pipeline || "-";
    document.getElementById("error").textContent = job.error || "";
    document.getElementById("eta").textContent =
      job.eta !== null && !FINAL.includes(job.code) && job.started_at ? " · ETA " + Math.round(job.eta) + " s" : "";
    const cancel = document.getElementById("cancel");
    if (cancel && FINAL.includes(job.code)) cancel.disabled = true;
    const list = document.getElementById("tasks");
    list.textContent = "";
    for (const t of job.tasks) {
      labels.set(t.index, t.technique);
      const li = document.createElement("li");
      li.dataset.index = t.index;
      li.textContent = t.role + ": " + t.technique + " — " + t.state + (t.points ? " (" + t.points + " points)" : "");
      list.appendChild(li);
    }
  }

  async function loadAll() {
    // A long job's points come a page at a time ("next").
    let url = "/api/v1/jobs/" + id + "/data";
    while (url) {
      const r = await fetch(url);
      if (!r.ok) return;
      const doc = await r.json();
      for (const [name, d] of Object.entries(doc.roles)) add(name, d.uts, d.task, d.columns, d.units);
      url = doc.next;
    }
  }

  function follow() {
    const es = new EventSource("/api/v1/jobs/" + id + "/stream");
    es.addEventListener("points", (e) => { for (const ch of JSON.parse(e.data).chunks) onChunk(ch); });
    es.addEventListener("status", (e) => showJob(JSON.parse(e.data)));
    es.addEventListener("end", (e) => { showJob(JSON.parse(e.data)); es.close(); });
  }

  let logOffset = 0;
  async function followLog() {
    try {
      const r = await fetch("/api/v1/jobs/" + id + "/log?offset=" + logOffset);
      if (r.ok) {
        const doc = await r.json();
        logOffset = doc.offset;
        if (doc.lines.length) {
          const pre = document.getElementById("log");
          const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 5;
          pre.textContent += doc.lines.join("\n") + "\n";
          if (atEnd) pre.scrollTop = pre.scrollHeight;
        }
        if (FINAL.includes(doc.status) && !doc.lines.length) return;
      }
    } catch (e) { /* try again */ }
    setTimeout(followLog, 1000);
  }

  const cancel = document.getElementById("cancel");
  if (cancel) cancel.addEventListener("click", async function () {
    cancel.disabled = true;
    const r = await fetch("/api/v1/jobs/" + id + "/cancel", { method: "POST", headers: { "X-Sugo-Request": "1" } });
    const doc = await r.json();
    if (r.ok) showJob(doc); else { document.getElementById("error").textContent = doc.error; cancel.disabled = false; }
  });

  if (FINAL.includes(root.dataset.code)) loadAll(); else follow();
  followLog();
})();
