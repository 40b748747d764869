/*
 * Draws every [data-plotly] element from the Plotly figure JSON the server embedded in it
 * ({"data", "layout", "config"}, built by metrics/charts.py), with the plotly.js served from
 * /static/. Runs on page load and after every htmx swap has settled (htmx:load fires for the
 * page and for each swapped-in fragment), and redraws after a history restore, whose
 * snapshot holds Plotly's markup but not its state. Plots leaving the page are purged.
 */
(function () {
  "use strict";

  function draw(element, force) {
    if (typeof window.Plotly === "undefined") {
      return;
    }
    if (element.dataset.plotlyDrawn === "true" && !force) {
      return;
    }
    var figure;
    try {
      figure = JSON.parse(element.dataset.plotly);
    } catch (error) {
      element.textContent = "This chart could not be drawn; its data table is below.";
      return;
    }
    if (force) {
      window.Plotly.purge(element);
      element.replaceChildren();
    }
    element.dataset.plotlyDrawn = "true";
    window.Plotly.newPlot(element, figure.data, figure.layout, figure.config);
  }

  function drawAll(root, force) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-plotly]")) {
      draw(scope, force);
    }
    scope.querySelectorAll("[data-plotly]").forEach(function (element) {
      draw(element, force);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(document, false);
  });
  document.addEventListener("htmx:load", function (event) {
    drawAll(event.detail.elt, false);
  });
  // Not htmx:afterSwap: until the swap settles, htmx gives a new element the class and
  // style of the old one with the same id and then puts its own back, which would strip
  // the classes Plotly adds while drawing. htmx:load and htmx:afterSettle come after that.
  document.addEventListener("htmx:afterSettle", function () {
    drawAll(document, false);
  });
  document.addEventListener("htmx:historyRestore", function () {
    drawAll(document, true);
  });
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var element = event.detail.elt;
    if (element && element.dataset && element.dataset.plotlyDrawn === "true") {
      window.Plotly.purge(element);
    }
  });
})();
