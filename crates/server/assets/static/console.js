// Zhiying console charts. Each chart container names its kind (data-chart) and the id of a
// <script type="application/json"> block with its data (data-source); the server escapes
// that JSON. No inline scripts, so the Content-Security-Policy forbids them.
(function () {
  "use strict";

  var PALETTE = ["#1f5fa8", "#c0392b", "#2e8b57", "#d68910", "#6c5ce7", "#17a2b8", "#8e44ad", "#7f8c8d"];

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function baseGrid() {
    return { left: 8, right: 16, top: 36, bottom: 8, containLabel: true };
  }

  var builders = {
    "table-rows": function (d) {
      return {
        color: ["#1f5fa8", "#c0392b"],
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        legend: { top: 0, data: [d.labels.rows, d.labels.quarantined] },
        grid: baseGrid(),
        xAxis: { type: "value", axisLabel: { formatter: function (v) { return v >= 1e6 ? v / 1e6 + "M" : v >= 1e3 ? v / 1e3 + "k" : v; } } },
        yAxis: { type: "category", data: d.names, inverse: true },
        series: [
          { name: d.labels.rows, type: "bar", data: d.rows, barMaxWidth: 14 },
          { name: d.labels.quarantined, type: "bar", data: d.quarantined, barMaxWidth: 14 }
        ]
      };
    },
    "table-quality": function (d) {
      return {
        color: ["#2e8b57", "#1f5fa8"],
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: function (v) { return v + "%"; } },
        legend: { top: 0, data: [d.labels.completeness, d.labels.validity] },
        grid: baseGrid(),
        xAxis: { type: "value", min: 0, max: 100 },
        yAxis: { type: "category", data: d.quality_names, inverse: true },
        series: [
          { name: d.labels.completeness, type: "bar", data: d.completeness, barMaxWidth: 14 },
          { name: d.labels.validity, type: "bar", data: d.validity, barMaxWidth: 14 }
        ]
      };
    },
    "monthly-flows": function (d) {
      return {
        color: ["#2e8b57", "#c0392b"],
        tooltip: { trigger: "axis" },
        legend: { top: 0, data: [d.labels.credit, d.labels.debit] },
        grid: baseGrid(),
        xAxis: { type: "category", data: d.months },
        yAxis: { type: "value" },
        series: [
          { name: d.labels.credit, type: "bar", data: d.credit, barMaxWidth: 18 },
          { name: d.labels.debit, type: "bar", data: d.debit, barMaxWidth: 18 }
        ]
      };
    },
    "tag-distribution": function (d) {
      var cat = { type: "category", data: d.labels, inverse: d.horizontal, axisLabel: { fontSize: 11, hideOverlap: true } };
      var val = { type: "value", axisLabel: { fontSize: 11, formatter: function (v) { return v >= 1e6 ? v / 1e6 + "M" : v >= 1e3 ? v / 1e3 + "k" : v; } } };
      return {
        color: ["#1f5fa8"],
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        grid: { left: 8, right: 16, top: 8, bottom: 8, containLabel: true },
        xAxis: d.horizontal ? val : cat,
        yAxis: d.horizontal ? cat : val,
        series: [{ type: "bar", data: d.counts, barMaxWidth: 16 }]
      };
    },
    "model-roc": function (d) {
      return {
        color: ["#1f5fa8", "#999"],
        title: { text: "ROC", left: "center", textStyle: { fontSize: 12 } },
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
        xAxis: { type: "value", min: 0, max: 1, name: "FPR" },
        yAxis: { type: "value", min: 0, max: 1, name: "TPR" },
        series: [
          { type: "line", showSymbol: false, data: d.roc },
          { type: "line", showSymbol: false, lineStyle: { type: "dashed" }, data: [[0, 0], [1, 1]] }
        ]
      };
    },
    "model-lift": function (d) {
      return {
        color: ["#2e8b57"],
        title: { text: "Lift", left: "center", textStyle: { fontSize: 12 } },
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: d.gains.map(function (g) { return g[0]; }) },
        yAxis: { type: "value" },
        series: [{ type: "bar", data: d.gains.map(function (g) { return g[1]; }), barMaxWidth: 18 }]
      };
    },
    "model-calibration": function (d) {
      return {
        color: ["#c0504d", "#999"],
        title: { text: "Calibration", left: "center", textStyle: { fontSize: 12 } },
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
        xAxis: { type: "value", min: 0, max: 1 },
        yAxis: { type: "value", min: 0, max: 1 },
        series: [
          { type: "line", data: d.calibration },
          { type: "line", showSymbol: false, lineStyle: { type: "dashed" }, data: [[0, 0], [1, 1]] }
        ]
      };
    },
    "model-importance": function (d) {
      var f = d.importance.slice().reverse();
      return {
        color: ["#1f5fa8"],
        title: { text: "Feature importance (gain)", left: "center", textStyle: { fontSize: 12 } },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
        xAxis: { type: "value", axisLabel: { formatter: function (v) { return Math.round(v * 100) + "%"; } } },
        yAxis: { type: "category", data: f.map(function (x) { return x[0]; }), axisLabel: { fontSize: 10 } },
        series: [{ type: "bar", data: f.map(function (x) { return x[1]; }), barMaxWidth: 12 }]
      };
    },
    "model-fairness": function (d) {
      var groups = [], sel = [], tpr = [];
      d.fairness.forEach(function (f) {
        f.groups.forEach(function (g, i) { groups.push(f.attribute + ": " + g); sel.push(f.selection[i]); tpr.push(f.tpr[i]); });
      });
      return {
        color: ["#2e8b57", "#c0504d"],
        title: { text: "Fairness", left: "center", textStyle: { fontSize: 12 } },
        legend: { bottom: 0, data: ["selection rate", "TPR"] },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        grid: { left: 8, right: 16, top: 28, bottom: 28, containLabel: true },
        xAxis: { type: "category", data: groups, axisLabel: { fontSize: 10, rotate: 30 } },
        yAxis: { type: "value", min: 0, max: 1 },
        series: [{ name: "selection rate", type: "bar", data: sel, barMaxWidth: 12 }, { name: "TPR", type: "bar", data: tpr, barMaxWidth: 12 }]
      };
    },
    "segment-smd": function (d) {
      return {
        tooltip: { position: "top", formatter: function (p) { return d.clusters[p.value[1]] + " · " + d.features[p.value[0]] + ": " + p.value[2]; } },
        grid: { left: 8, right: 16, top: 8, bottom: 48, containLabel: true },
        xAxis: { type: "category", data: d.features, axisLabel: { fontSize: 11, rotate: 30 } },
        yAxis: { type: "category", data: d.clusters },
        visualMap: { min: -2, max: 2, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#c0504d", "#f7f7f7", "#1f5fa8"] } },
        series: [{ type: "heatmap", data: d.smd, label: { show: true, fontSize: 10 } }]
      };
    },
    "segment-k": function (d) {
      return {
        color: ["#2e8b57"],
        title: { text: "silhouette", left: "center", textStyle: { fontSize: 12 } },
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
        xAxis: { type: "category", name: "k", data: d.k_scores.map(function (s) { return s[0]; }) },
        yAxis: { type: "value" },
        series: [{ type: "line", data: d.k_scores.map(function (s) { return s[1]; }) }]
      };
    },
    "report-daily": function (d) {
      var l = d.daily.labels;
      return {
        color: ["#9db8d9", "#17a2b8", "#d68910", "#2e8b57", "#1f5fa8", "#c0392b"],
        tooltip: { trigger: "axis" },
        legend: { top: 0, type: "scroll" },
        grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: d.daily.days },
        yAxis: [{ type: "value" }, { type: "value", axisLabel: { formatter: "{value}%" }, splitLine: { show: false } }],
        series: [
          { name: l.reach, type: "bar", data: d.daily.reach, barMaxWidth: 16 },
          { name: l.opened, type: "line", showSymbol: false, data: d.daily.opened },
          { name: l.clicked, type: "line", showSymbol: false, data: d.daily.clicked },
          { name: l.converted, type: "line", showSymbol: false, data: d.daily.converted },
          { name: l.rate_treated, type: "line", yAxisIndex: 1, showSymbol: false, lineStyle: { width: 2 }, data: d.daily.rate_treated },
          { name: l.rate_untreated, type: "line", yAxisIndex: 1, showSymbol: false, lineStyle: { width: 2, type: "dashed" }, data: d.daily.rate_untreated }
        ]
      };
    },
    "report-effect": function (d) {
      var e = d.effect, l = e.labels;
      return {
        color: ["#1f5fa8", "#c0392b"],
        tooltip: { trigger: "item" },
        grid: [
          { left: 8, right: "55%", top: 36, bottom: 8, containLabel: true },
          { left: "52%", right: 16, top: 36, bottom: 8, containLabel: true }
        ],
        title: [
          { text: l.rate, left: "2%", textStyle: { fontSize: 12 } },
          { text: l.lift + " (" + l.ci + ")", left: "52%", textStyle: { fontSize: 12 } }
        ],
        xAxis: [
          { gridIndex: 0, type: "category", data: e.groups },
          { gridIndex: 1, type: "value", scale: true, axisLabel: { formatter: "{value}" } }
        ],
        yAxis: [
          { gridIndex: 0, type: "value", axisLabel: { formatter: "{value}%" } },
          { gridIndex: 1, type: "category", data: [l.lift] }
        ],
        series: [
          { type: "bar", xAxisIndex: 0, yAxisIndex: 0, barMaxWidth: 48, label: { show: true, position: "top", formatter: "{c}%" },
            data: [{ value: e.rates[0], itemStyle: { color: "#1f5fa8" } }, { value: e.rates[1], itemStyle: { color: "#7f8c8d" } }] },
          { type: "line", xAxisIndex: 1, yAxisIndex: 1, symbol: "path://M0,-10L0,10", symbolSize: [2, 14], lineStyle: { width: 3, color: "#1f5fa8" },
            data: [[e.lift_ci[0], l.lift], [e.lift_ci[1], l.lift]],
            markLine: { silent: true, symbol: "none", lineStyle: { color: "#999", type: "dashed" }, data: [{ xAxis: 0 }] } },
          { type: "scatter", xAxisIndex: 1, yAxisIndex: 1, symbolSize: 12, itemStyle: { color: "#c0392b" }, data: [[e.lift, l.lift]],
            label: { show: true, position: "top", formatter: function () { return e.lift + " [" + e.lift_ci[0] + ", " + e.lift_ci[1] + "]"; } } }
        ]
      };
    },
    "report-qini": function (d) {
      var q = d.qini, l = q.labels;
      return {
        color: ["#2e8b57", "#999"],
        tooltip: { trigger: "axis" },
        legend: { top: 0, data: [l.model, l.random] },
        grid: { left: 8, right: 16, top: 36, bottom: 24, containLabel: true },
        xAxis: { type: "category", name: l.x, nameLocation: "middle", nameGap: 24, data: q.fraction.map(function (f) { return f + "%"; }) },
        yAxis: { type: "value", name: l.y },
        series: [
          { name: l.model, type: "line", showSymbol: false, data: q.model, areaStyle: { opacity: 0.08 } },
          { name: l.random, type: "line", showSymbol: false, lineStyle: { type: "dashed" }, data: q.random }
        ]
      };
    },
    "report-attribution": function (d) {
      var a = d.attribution;
      return {
        color: PALETTE,
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        legend: { top: 0, type: "scroll" },
        grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: a.channels },
        yAxis: { type: "value", name: a.labels.y },
        series: a.series.map(function (s) { return { name: s.name, type: "bar", data: s.data, barMaxWidth: 18 }; })
      };
    },
    "experiment-power": function (d) {
      return {
        color: ["#1f5fa8"],
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: function (v) { return v + "%"; } },
        grid: { left: 8, right: 16, top: 8, bottom: 8, containLabel: true },
        xAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        yAxis: { type: "category", data: d.names, inverse: true },
        series: [{
          name: d.labels.power, type: "bar", barMaxWidth: 14,
          data: d.power.map(function (p) { return { value: p, itemStyle: { color: p < d.target ? "#c0392b" : "#2e8b57" } }; }),
          markLine: { silent: true, symbol: "none", lineStyle: { color: "#999", type: "dashed" }, label: { formatter: d.labels.target }, data: [{ xAxis: d.target }] }
        }]
      };
    },
    "holdings": function (d) {
      return {
        color: PALETTE,
        tooltip: { trigger: "item" },
        legend: { type: "scroll", bottom: 0 },
        series: [{
          name: d.labels.holdings, type: "pie", radius: ["40%", "68%"], center: ["50%", "45%"],
          label: { show: false },
          data: d.holdings.map(function (h) { return { name: h[0], value: h[1] }; })
        }]
      };
    }
  };

  function init() {
    if (typeof echarts === "undefined") { return; }
    var charts = [];
    var nodes = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var build = builders[el.getAttribute("data-chart")];
      var data = readJson(el.getAttribute("data-source"));
      if (!build || !data) { continue; }
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(build(data));
      charts.push(chart);
    }
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
