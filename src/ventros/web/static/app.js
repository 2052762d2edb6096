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
  });
})();
