// Genome's UI: small enhancements over server-drawn pages; every page works without them.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Times in the reader's time zone; the UTC time stays in the tooltip.
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const time of document.querySelectorAll("time[datetime]")) {
    const when = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) time.textContent = format.format(when);
  }

  // Slow forms say they are working (the first explanation of a version loads its model).
  for (const form of document.querySelectorAll("form.busy-on-submit")) {
    form.addEventListener("submit", () => {
      const busy = form.querySelector(".busy");
      if (busy) busy.hidden = false;
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
    });
  }

  // Links to slow pages say they are working, once clicked.
  for (const link of document.querySelectorAll("a[data-busy]")) {
    link.addEventListener("click", () => {
      const note = document.createElement("p");
      note.className = "busy banner";
      note.setAttribute("role", "status");
      note.textContent = link.dataset.busy;
      document.querySelector("main").prepend(note);
    });
  }

  // A collapsed tree node opens: the view restarts from it.
  for (const figure of document.querySelectorAll("figure.tree[data-node-url]")) {
    figure.addEventListener("click", (event) => {
      const node = event.target.closest(".node.collapsed");
      if (!node) return;
      const id = node.id.replace("node-", "");
      window.location.href = figure.dataset.nodeUrl.replace("NODE", encodeURIComponent(id));
    });
  }

  // The Grad-CAM heat-map's opacity over the picture.
  for (const slider of document.querySelectorAll("input.opacity")) {
    const heat = slider.closest("section").querySelector("img.heat");
    slider.addEventListener("input", () => { heat.style.opacity = String(slider.value / 100); });
  }

  // A running pipeline's DAG follows the run: the page asks the API for the run every second while the run is
  // unfinished and the tab visible (sending the last answer's ETag back: an unchanged run is an empty 304), and
  // repaints each step's state; it says how fresh it is, or that it lost touch.
  for (const figure of document.querySelectorAll("figure.dag[data-live]")) {
    const freshness = figure.querySelector(".freshness");
    const badge = document.querySelector("[data-testid=run-status]");
    let last = Date.now();
    let finished = false;
    let etag = null;
    // status -> [shade, icon], as the server drew them (one table, in genome.ui.charts)
    const states = JSON.parse(figure.dataset.states);
    const poll = async () => {
      if (finished || document.visibilityState !== "visible") return;
      try {
        const headers = { Accept: "application/json" };
        if (etag) headers["If-None-Match"] = etag;
        const response = await fetch(figure.dataset.live, { headers, cache: "no-store" });
        if (response.status === 304) {
          last = Date.now();
          freshness.textContent = "Live: updated just now.";
          return;
        }
        if (!response.ok) throw new Error(String(response.status));
        etag = response.headers.get("ETag");
        const run = await response.json();
        for (const step of run.steps) {
          const box = figure.querySelector(`a.step[data-step="${CSS.escape(step.stepName)}"]`);
          if (!box || box.dataset.status === step.status) continue;
          box.dataset.status = step.status;
          const [shade, icon] = states[step.status] || ["#fff", "?"];
          box.querySelector("rect").setAttribute("fill", shade);
          box.querySelector("text.state").textContent = `${icon} ${step.status}`;
        }
        badge.dataset.status = run.status;
        badge.querySelector(".badge").textContent = run.status;
        badge.querySelector(".badge").className = `badge status ${run.status}`;
        last = Date.now();
        finished = !["queued", "running"].includes(run.status);
        freshness.textContent = finished ? "The run has ended; reload for its attempts and logs." : "Live: updated just now.";
      } catch (error) {
        freshness.textContent = "Connection lost; retrying.";
      }
    };
    setInterval(poll, 1000);
    setInterval(() => {
      if (!finished && Date.now() - last > 3000) freshness.textContent = `Live: updated ${Math.round((Date.now() - last) / 1000)} s ago.`;
    }, 1000);
    document.addEventListener("visibilitychange", poll);
  }

  // A running attempt's log grows on the page: every second while the tab is visible the page asks the API for
  // what follows, and appends its whole lines, numbered and linked like the server's.
  for (const pre of document.querySelectorAll("pre.lines[data-follow]")) {
    const state = document.querySelector(".follow-state");
    const url = new URL(pre.dataset.follow, location.href);
    let offset = Number(url.searchParams.get("offset"));
    let line = Number(pre.dataset.line);
    let done = false;
    let rest = "";
    const append = (text) => {
      const row = document.createElement("span");
      row.className = "line";
      row.id = `L${line}`;
      const number = document.createElement("span");
      number.className = "ln";
      const link = document.createElement("a");
      link.href = `${pre.dataset.base}&line=${line}#L${line}`;
      link.textContent = String(line);
      number.append(link);
      row.append(number, `${text}\n`);
      pre.append(row);
      line += 1;
    };
    const follow = async () => {
      if (done || document.visibilityState !== "visible") return;
      url.searchParams.set("offset", String(offset));
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(String(response.status));
        const chunk = await response.json();
        // Whole lines are shown; a line still being written waits for its end (or for the log's).
        const lines = (rest + chunk.text).split("\n");
        rest = lines.pop();
        if (chunk.complete && rest) { lines.push(rest); rest = ""; }
        lines.forEach(append);
        offset = chunk.nextOffset;
        done = chunk.complete;
        if (state) state.textContent = done ? "The attempt has ended: this is its whole log." : "The attempt is running: new lines appear as it writes them.";
      } catch (error) {
        if (state) state.textContent = "Connection lost; retrying.";
      }
    };
    setInterval(follow, 1000);
    document.addEventListener("visibilitychange", follow);
  }

  // A secret shown once is copied with one click; where the clipboard cannot be written, it is selected instead,
  // for the reader's own Ctrl+C. Without JavaScript the button stays hidden and one click selects the secret.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    const said = button.parentElement.querySelector(".copied");
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        said.textContent = "Copied.";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        said.textContent = "Selected: press Ctrl+C to copy.";
      }
    });
  }

  // A picture dropped on the image form fills its file input.
  for (const form of document.querySelectorAll("form.drop")) {
    const input = form.querySelector("input[type=file]");
    form.addEventListener("dragover", (event) => { event.preventDefault(); });
    form.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
    });
  }
});
