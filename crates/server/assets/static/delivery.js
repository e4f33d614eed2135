// Delivery monitor: messages sent per minute per channel over the last hour (stacked bars).
// The server renders every number; this only draws the chart from the JSON block it
// escaped. No inline script, so the Content-Security-Policy forbids them.
(function () {
  "use strict";

  var PALETTE = ["#1f5fa8", "#2e8b57", "#d68910", "#6c5ce7", "#c0392b", "#17a2b8", "#7f8c8d"];

  function init() {
    if (typeof echarts === "undefined") { return; }
    var el = document.querySelector("[data-delivery-chart]");
    if (!el) { return; }
    var src = document.getElementById(el.getAttribute("data-delivery-chart"));
    if (!src) { return; }
    var d = JSON.parse(src.textContent);
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption({
      color: PALETTE,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: d.labels, axisLabel: { fontSize: 11, hideOverlap: true } },
      yAxis: { type: "value", name: d.y_label, minInterval: 1 },
      series: d.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "sent", data: s.data, barMaxWidth: 14 };
      })
    });
    el.setAttribute("data-rendered", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
