// The search page's script, a file of its own: the pages' Content-Security-Policy runs no inline script.
// The index bundles (one per build worker, and the recent changes) come from the #search element.
window.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("search");
  var bundles = JSON.parse(element.getAttribute("data-bundles") || "[]");
  if (!bundles.length) { return; }
  var base = new URL(".", location.href).pathname;
  new PagefindUI({
    element: "#search", showSubResults: false, showImages: false, baseUrl: base, bundlePath: base + bundles[0],
    mergeIndex: bundles.slice(1).map(function (b) { return {bundlePath: base + b, baseUrl: base}; })
  });
  // pagefind's input has only a title and a placeholder: give it a real label (axe: label-title-only).
  var label = function () {
    var input = element.querySelector("input");
    if (input && !input.getAttribute("aria-label")) { input.setAttribute("aria-label", "Search the awards"); }
  };
  label();
  new MutationObserver(label).observe(element, {childList: true, subtree: true});
});
