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
