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

  // A running pipeline's DAG follows the run: the page asks the API for the run every 2 s while the run is
  // unfinished and the tab visible, and repaints each step's state; it says how fresh it is, or that it lost touch.
  for (const figure of document.querySelectorAll("figure.dag[data-live]")) {
    const freshness = figure.querySelector(".freshness");
    const badge = document.querySelector("[data-testid=run-status]");
    let last = Date.now();
    let finished = false;
    // status -> [shade, icon], as the server drew them (one table, in genome.ui.charts)
    const states = JSON.parse(figure.dataset.states);
    const poll = async () => {
      if (finished || document.visibilityState !== "visible") return;
      try {
        const response = await fetch(figure.dataset.live, { headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(String(response.status));
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
    setInterval(poll, 2000);
    setInterval(() => {
      if (!finished && Date.now() - last > 3000) freshness.textContent = `Live: updated ${Math.round((Date.now() - last) / 1000)} s ago.`;
    }, 1000);
    document.addEventListener("visibilitychange", poll);
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
