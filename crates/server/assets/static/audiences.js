// Audience builder: live count as you type (debounced), positioned errors, tag picker,
// save, and the overlap of saved audiences (heatmap + Venn-region bars). Loaded only on
// /console/audiences; talks to the same JSON API as scripts do.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }
  function readJson(id) { var el = $(id); return el ? JSON.parse(el.textContent) : null; }

  var catalog = readJson("aud-catalog");
  var S = readJson("aud-strings");
  if (!catalog || !S) { return; }
  var zh = S.lang === "zh-CN";
  var nf = new Intl.NumberFormat(zh ? "zh-CN" : "en");
  var expr = $("aud-expr");
  var seq = 0;
  var timer = null;

  // The session's CSRF token (layout meta tag): state-changing calls must echo it.
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; });
    });
  }

  function showError(err) {
    $("aud-error").hidden = false;
    $("aud-error-msg").textContent = err.message;
    var pos = err.position;
    $("aud-error-caret").textContent = pos ? pos.snippet + "\n" + pos.caret : "";
    $("aud-error-hint").textContent = err.hint || "";
    $("aud-count").textContent = "—";
    $("aud-count").classList.add("stale");
  }

  function clearError() {
    $("aud-error").hidden = true;
    $("aud-count").classList.remove("stale");
  }

  function count() {
    var text = expr.value;
    if (!text.trim()) {
      clearError();
      $("aud-count").textContent = "—";
      return;
    }
    var mine = ++seq;
    post("/v1/audiences/count", { expr: text }).then(function (res) {
      if (mine !== seq) { return; } // a newer keystroke won
      if (res.ok) {
        clearError();
        $("aud-count").textContent = nf.format(res.body.count) + " " + S.members;
        $("aud-count-meta").textContent = S.of + " " + nf.format(res.body.customers) + " · " + res.body.millis.toFixed(1) + " " + S.ms;
      } else {
        showError(res.body.error || { message: S.failed });
      }
    }).catch(function () {
      if (mine === seq) { showError({ message: S.failed }); }
    });
  }

  expr.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(count, 250);
  });

  // Links from other pages (e.g. a cluster profile) open the builder with ?expr=… counted.
  var preset = new URLSearchParams(window.location.search).get("expr");
  if (preset && !expr.value) {
    expr.value = preset;
    count();
  }

  // Tag picker: click a tag (or a code) to insert it at the cursor.
  function insert(text) {
    var s = expr.selectionStart, e = expr.selectionEnd, v = expr.value;
    var before = v.slice(0, s), after = v.slice(e);
    var pad = before && !/\s$/.test(before) ? " " : "";
    expr.value = before + pad + text + after;
    var at = (before + pad + text).length;
    expr.focus();
    expr.setSelectionRange(at, at);
    expr.dispatchEvent(new Event("input"));
  }

  function snippet(t) {
    if (t.kind === "flag") { return t.key; }
    if (t.kind === "numeric") { return t.key + " >= "; }
    return t.values.length ? t.key + ' = "' + t.values[0][0] + '"' : t.key + " = ";
  }

  function renderTags(filter) {
    var ul = $("aud-tags");
    ul.textContent = "";
    var f = (filter || "").toLowerCase();
    catalog.tags.forEach(function (t) {
      var label = zh ? (t.name_zh || t.name_en || t.key) : (t.name_en || t.name_zh || t.key);
      var hay = (t.key + " " + t.name_zh + " " + t.name_en + " " + t.category).toLowerCase();
      if (f && hay.indexOf(f) < 0) { return; }
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.className = "aud-tag";
      b.setAttribute("data-key", t.key);
      b.title = t.description || "";
      b.innerHTML = "";
      var strong = document.createElement("span");
      strong.textContent = label;
      var code = document.createElement("code");
      code.textContent = t.key;
      var kind = document.createElement("small");
      kind.textContent = t.kind;
      b.appendChild(strong); b.appendChild(code); b.appendChild(kind);
      b.addEventListener("click", function () { insert(snippet(t)); });
      li.appendChild(b);
      if (t.values.length) {
        var codes = document.createElement("div");
        codes.className = "aud-codes";
        t.values.forEach(function (v) {
          var c = document.createElement("button");
          c.type = "button";
          c.textContent = zh ? (v[1] || v[0]) : (v[2] || v[0]);
          c.title = v[0];
          c.addEventListener("click", function () { insert(t.key + ' = "' + v[0] + '"'); });
          codes.appendChild(c);
        });
        li.appendChild(codes);
      }
      ul.appendChild(li);
    });
  }
  renderTags("");
  $("aud-tag-filter").addEventListener("input", function (e) { renderTags(e.target.value); });

  var form = $("aud-save");
  if (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      post("/v1/audiences", { name: $("aud-name").value, expr: expr.value }).then(function (res) {
        if (res.ok) {
          $("aud-save-status").textContent = S.saved + " " + res.body.id;
          setTimeout(function () { window.location.reload(); }, 600);
        } else if (res.body.error && res.body.error.position) {
          showError(res.body.error);
        } else {
          $("aud-save-status").textContent = (res.body.error && res.body.error.message) || S.failed;
        }
      });
    });
  }

  // Clicking a saved definition loads it into the editor.
  Array.prototype.forEach.call(document.querySelectorAll(".aud-def"), function (el) {
    el.addEventListener("click", function () {
      expr.value = el.getAttribute("data-expr");
      count();
    });
  });

  var charts = [];
  function chart(el) {
    var c = window.echarts.getInstanceByDom(el) || window.echarts.init(el);
    if (charts.indexOf(c) < 0) { charts.push(c); }
    return c;
  }

  var btn = $("aud-overlap-btn");
  if (btn) {
    btn.addEventListener("click", function () {
      var ids = Array.prototype.map.call(document.querySelectorAll(".aud-pick:checked"), function (c) { return c.value; });
      if (ids.length < 2 || ids.length > 5) {
        window.alert(S.pick_two);
        return;
      }
      post("/v1/audiences/overlap", { audiences: ids }).then(function (res) {
        if (!res.ok) { window.alert((res.body.error && res.body.error.message) || S.failed); return; }
        var o = res.body;
        $("aud-overlap").hidden = false;
        var letters = o.labels.map(function (_, i) { return String.fromCharCode(65 + i); });
        var cells = [];
        for (var i = 0; i < o.matrix.length; i++) {
          for (var j = 0; j < o.matrix.length; j++) { cells.push([j, i, o.matrix[i][j]]); }
        }
        var max = Math.max.apply(null, o.sizes.concat([1]));
        chart($("aud-heatmap")).setOption({
          tooltip: { formatter: function (p) { return o.labels[p.value[1]] + " ∩ " + o.labels[p.value[0]] + ": " + nf.format(p.value[2]); } },
          grid: { left: 8, right: 16, top: 16, bottom: 48, containLabel: true },
          xAxis: { type: "category", data: o.labels.map(function (l, i) { return letters[i] + " " + l; }), axisLabel: { interval: 0, width: 90, overflow: "truncate" } },
          yAxis: { type: "category", data: o.labels.map(function (l, i) { return letters[i] + " " + l; }), inverse: true, axisLabel: { width: 120, overflow: "truncate" } },
          visualMap: { min: 0, max: max, calculable: false, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#eef4fb", "#1f5fa8"] } },
          series: [{ type: "heatmap", data: cells, label: { show: true, formatter: function (p) { return nf.format(p.value[2]); } } }]
        }, true);
        var regions = o.regions.filter(function (r) { return r.count > 0; });
        chart($("aud-venn")).setOption({
          tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
          title: { text: S.in_exactly, textStyle: { fontSize: 12, fontWeight: "normal" } },
          xAxis: { type: "value" },
          yAxis: { type: "category", inverse: true, data: regions.map(function (r) { return r.sets.map(function (s) { return letters[s]; }).join(" ∩ "); }) },
          series: [{ type: "bar", data: regions.map(function (r) { return r.count; }), barMaxWidth: 14, itemStyle: { color: "#2e8b57" } }]
        }, true);
      });
    });
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
