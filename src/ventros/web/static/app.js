// The little the pages need beyond htmx: keep a conversation scrolled to its newest
// message (unless the reader scrolled up to read older ones).
(function () {
  "use strict";
  function pane() { return document.getElementById("messages"); }
  var stick = true;
  function toBottom() { var p = pane(); if (p && stick) { p.scrollTop = p.scrollHeight; } }
  document.addEventListener("DOMContentLoaded", function () {
    toBottom();
    var p = pane();
    if (p) {
      p.addEventListener("scroll", function () {
        stick = p.scrollHeight - p.scrollTop - p.clientHeight < 80;
      });
    }
  });
  // Whenever the live stream (re)connects, re-read what is on screen: whatever changed
  // between the page's render and the connection, or while it was down, shows at once.
  document.addEventListener("htmx:sseOpen", function () {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      window.htmx.trigger(el, "ventros:refresh");
    });
  });
  // An attachment over the limit is refused before it is uploaded (the server refuses it
  // too, with the same words, when scripts are off).
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || !input.dataset || !input.dataset.maxBytes || !input.files) { return; }
    var file = input.files[0];
    var tooLarge = file && file.size > Number(input.dataset.maxBytes);
    input.setCustomValidity(tooLarge ? input.dataset.tooLarge || "" : "");
    if (tooLarge) { input.reportValidity(); }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "messages") { toBottom(); }
    paintLabels(event.detail && event.detail.target);
  });

  // Label colours come from the tenant's catalogue; the policy forbids inline styles, so
  // they are set here from data-color.
  function paintLabels(root) {
    (root || document).querySelectorAll("[data-color]").forEach(function (el) {
      if (/^#[0-9a-f]{6}$/.test(el.dataset.color)) { el.style.setProperty("--label-color", el.dataset.color); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { paintLabels(document); });

  // A filter <select> (the inbox's label) applies as soon as it changes.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-submit-on-change") && el.form) {
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
    }
  });

  // The composer: a chosen canned reply fills the text (already rendered for this
  // contact) and carries its file; the note toggle lets a note through a closed window.
  function suggestions() { return document.getElementById("canned-suggestions"); }
  function chooseCanned(item) {
    var form = item.closest("form");
    var text = form && form.querySelector("[data-testid=composer-text]");
    if (!text) { return; }
    text.value = item.dataset.cannedText || "";
    var media = form.querySelector("[data-canned-media]");
    if (media) { media.value = item.dataset.cannedMediaId || ""; }
    var hint = form.querySelector("[data-canned-attachment]");
    if (hint) { hint.hidden = !item.dataset.cannedMediaId; }
    suggestions().innerHTML = "";
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  }
  document.addEventListener("click", function (event) {
    var item = event.target && event.target.closest && event.target.closest("[data-testid=canned-item]");
    if (item) { event.preventDefault(); chooseCanned(item); }
  });
  document.addEventListener("keydown", function (event) {
    var box = suggestions();
    if (!box || !box.firstElementChild) { return; }
    var first = box.querySelector("[data-testid=canned-item]");
    if (event.key === "Escape") { box.innerHTML = ""; return; }
    if (event.key === "ArrowDown" && event.target && event.target.id === "composer-text" && first) {
      event.preventDefault(); first.focus();
    }
  });
  document.addEventListener("input", function (event) {
    // Typing after a canned reply with a file keeps the file; clearing the text drops it.
    var el = event.target;
    if (el && el.id === "composer-text" && !el.value) {
      var media = el.form && el.form.querySelector("[data-canned-media]");
      if (media) { media.value = ""; }
      var hint = el.form && el.form.querySelector("[data-canned-attachment]");
      if (hint) { hint.hidden = true; }
    }
  });
  document.addEventListener("change", function (event) {
    var toggle = event.target;
    if (!toggle || !toggle.dataset || toggle.dataset.testid !== "composer-note") { return; }
    var form = toggle.form;
    form.classList.toggle("noting", toggle.checked);
    if (form.hasAttribute("data-window-closed")) {
      form.querySelectorAll("textarea, [data-testid=composer-send]").forEach(function (el) {
        el.disabled = !toggle.checked;
      });
    }
  });
})();

// The kanban: a card moves by native drag and drop or by its "Move to" menu. Both ask the
// server first; only an accepted move changes the board, so a refused one leaves the card
// where it was and says why.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  function board() { return document.getElementById("kanban"); }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }
  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    box.querySelectorAll("[data-kanban-toast]").forEach(function (old) { old.remove(); });
    var div = document.createElement("div");
    div.className = "toast toast-error";
    div.setAttribute("role", "alert");
    div.setAttribute("data-testid", "toast-error");
    div.setAttribute("data-kanban-toast", "");
    div.textContent = text;
    box.appendChild(div);
  }
  function columnOf(el) { return el && el.closest ? el.closest("[data-testid=kanban-column]") : null; }
  function columnById(stageId) {
    var k = board();
    return k ? k.querySelector('[data-testid=kanban-column][data-stage-id="' + stageId + '"]') : null;
  }
  function bump(column, by) {
    var count = column && column.querySelector("[data-testid=kanban-count]");
    if (count) { count.textContent = String(Math.max(0, Number(count.textContent) + by)); }
  }
  function place(card, from, to) {
    var list = to.querySelector(".kanban-cards");
    list.insertBefore(card, list.firstChild);
    bump(from, -1);
    bump(to, 1);
    var menu = card.querySelector("[data-testid=kanban-card-move]");
    if (menu) { menu.value = to.getAttribute("data-stage-id"); }
  }
  function move(card, stageId) {
    var k = board();
    var from = columnOf(card);
    var to = columnById(stageId);
    var menu = card.querySelector("[data-testid=kanban-card-move]");
    if (!k || !from || !to || from === to) { return; }
    var body = new URLSearchParams();
    body.set("contact_id", card.getAttribute("data-contact-id"));
    body.set("stage_id", stageId);
    card.classList.add("moving");
    fetch(k.getAttribute("data-move-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Accept": "application/json",
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        card.classList.remove("moving");
        if (response.ok) { place(card, from, to); return; }
        if (menu) { menu.value = from.getAttribute("data-stage-id"); }
        toast(data.error || k.getAttribute("data-refused") || "");
        // The stage was removed meanwhile: bring the whole board up to date.
        if (data.refresh) { k.dispatchEvent(new CustomEvent("ventros:refresh")); }
      });
    }).catch(function () {
      card.classList.remove("moving");
      if (menu) { menu.value = from.getAttribute("data-stage-id"); }
      toast(k.getAttribute("data-refused") || "");
    });
  }
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest("[data-testid=kanban-card][draggable=true]");
    if (!card) { return; }
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-contact-id"));
  });
  document.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    document.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  });
  document.addEventListener("dragover", function (event) {
    var column = dragged && columnOf(event.target);
    if (!column) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".drop-target").forEach(function (c) { if (c !== column) { c.classList.remove("drop-target"); } });
    column.classList.add("drop-target");
  });
  document.addEventListener("drop", function (event) {
    var column = dragged && columnOf(event.target);
    if (!column) { return; }
    event.preventDefault();
    column.classList.remove("drop-target");
    move(dragged, column.getAttribute("data-stage-id"));
  });
  // The keyboard's way: choosing a stage in a card's menu moves it at once.
  document.addEventListener("change", function (event) {
    var menu = event.target;
    if (!menu || !menu.matches || !menu.matches("[data-testid=kanban-card-move]")) { return; }
    var card = menu.closest("[data-testid=kanban-card]");
    if (card) { move(card, menu.value); }
  });
  document.addEventListener("submit", function (event) {
    // With scripts on, the menu already moved the card: no page reload.
    if (event.target.classList && event.target.classList.contains("card-move")) { event.preventDefault(); }
  });
})();
