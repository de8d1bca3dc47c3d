// Live updates for a server's page: one EventSource; every "boards" event is the whole state.
// Names are untrusted text: they are only ever set with textContent, never as markup.
"use strict";
(function () {
  const root = document.getElementById("page");
  if (!root || !window.EventSource) return;
  const status = document.getElementById("live");
  // The server icon comes from Discord's CDN: if it cannot be loaded, show nothing rather than a
  // broken image (the CSP allows no inline handler for this).
  for (const img of document.querySelectorAll("img.icon")) {
    img.addEventListener("error", function () { img.hidden = true; });
    if (img.complete && img.naturalWidth === 0) img.hidden = true;
  }

  function line(item) {
    const li = document.createElement("li");
    const rank = document.createElement("span");
    rank.className = "rank";
    rank.textContent = item.rank;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = item.name;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = "— " + item.value;
    li.append(rank, " ", name, " ", value);
    return li;
  }

  function show(state) {
    for (const board of state.boards) {
      const article = document.getElementById("board-" + board.kind);
      if (!article) continue;
      article.querySelector(".lines").replaceChildren(...board.lines.map(line));
      article.querySelector(".empty").hidden = board.lines.length > 0;
    }
    const updated = document.getElementById("updated");
    if (updated) updated.textContent = state.updated;
    const chart = document.getElementById("chart");
    if (chart) {
      const next = root.dataset.chart + "?v=" + encodeURIComponent(state.chart);
      if (chart.getAttribute("src") !== next) chart.setAttribute("src", next);
    }
    root.dataset.updates = String(Number(root.dataset.updates || "0") + 1);
  }

  const events = new EventSource(root.dataset.events);
  events.addEventListener("boards", function (event) {
    show(JSON.parse(event.data));
    status.textContent = "live";
    status.classList.add("on");
  });
  events.addEventListener("error", function () {
    status.textContent = "reconnecting…";
    status.classList.remove("on");
  });
})();
