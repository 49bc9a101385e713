// The explorer's one callback (lnbayes.outputs.explorer). It computes no statistics: every
// number is looked up in, or bilinearly interpolated between, the nodes of grids that
// lnbayes's exact engines computed (lnbayes.analyses.explorer_data). Bokeh passes the widgets,
// sources and the data (a JSON string) as named arguments.
const W = window;
if (W.__lnbxBusy) { return; }
W.__lnbxBusy = true;
try {
  const started = performance.now();
  if (!W.__lnbx) { W.__lnbx = {D: JSON.parse(data), decoded: new Map()}; }
  const X = W.__lnbx, D = X.D;

  function bytesOf(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  function decode(e) {  // a quantised grid: lo + (hi - lo) q / 65535
    let v = X.decoded.get(e);
    if (v) { return v; }
    const q = new Uint16Array(bytesOf(e.b64).buffer);
    v = new Float64Array(q.length);
    for (let i = 0; i < q.length; i++) { v[i] = e.lo + (e.hi - e.lo) * q[i] / 65535; }
    X.decoded.set(e, v);
    return v;
  }
  function curve(e, k) {  // one density curve: scale[k] q / 255
    let bytes = X.decoded.get(e);
    if (!bytes) { bytes = bytesOf(e.b64); X.decoded.set(e, bytes); }
    const out = new Array(e.points);
    for (let p = 0; p < e.points; p++) { out[p] = e.scales[k] * bytes[k * e.points + p] / 255; }
    return out;
  }
  const TRANSFORM = {linear: (v) => v, log: Math.log, sqrt: Math.sqrt};
  function locate(ax, v) {  // as lnbayes.analyses.explorer_data._locate
    const f = TRANSFORM[ax.transform];
    if (!ax.t) { ax.t = ax.values.map(f); }
    const t = ax.t, n = t.length;
    const x = Math.min(Math.max(f(v), t[0]), t[n - 1]);
    let lo = 0, hi = n - 1;
    while (hi - lo > 1) { const m = (lo + hi) >> 1; if (t[m] <= x) { lo = m; } else { hi = m; } }
    return [lo, (x - t[lo]) / (t[lo + 1] - t[lo])];
  }
  function interp(cax, sax, tab, c, s) {  // as lnbayes.analyses.explorer_data.interpolate
    const [i, fc] = locate(cax, c), [j, fs] = locate(sax, s), n = cax.values.length;
    return tab[j * n + i] * (1 - fc) * (1 - fs) + tab[j * n + i + 1] * fc * (1 - fs)
      + tab[(j + 1) * n + i] * (1 - fc) * fs + tab[(j + 1) * n + i + 1] * fc * fs;
  }
  const fp = (p) => p.toFixed(3);
  const frd = (v) => (v >= 0 ? "+" : "") + v.toFixed(3);
  const fratio = (v) => Math.exp(v).toPrecision(4);
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const SCALE = {log_or: ["log odds ratio", "OR"], log_rr: ["log risk ratio", "RR"], rd: ["risk difference", "RD"]};
  function onScale(scale, v) {  // a centre in words
    return scale === "rd" ? `RD ${frd(v)}` : `${SCALE[scale][1]} ${fratio(v)} (${SCALE[scale][0]} ${v.toFixed(3)})`;
  }

  // -- which outcome, control prior, scale --------------------------------------------------
  const O = D.outcomes.find((o) => o.name === outcome_sel.value);
  if (X.outcome !== O.name) {
    control_sel.options = O.controls.map((c) => [c.key, c.label]);
    if (!O.controls.some((c) => c.key === control_sel.value)) { control_sel.value = O.controls[0].key; }
    scale_sel.options = O.scales.map((s) => [s, SCALE[s][0]]);
    if (!O.scales.includes(scale_sel.value)) { scale_sel.value = O.scales[0]; }
    threshold_sel.options = O.thresholds.map((t, k) => [String(k), t.label]);
    if (+threshold_sel.value >= O.thresholds.length) { threshold_sel.value = "0"; }
  }
  const scale = scale_sel.value;
  const R = D.settings.ranges[scale];
  if (X.scale !== scale) {
    const cs = (R.centre[1] - R.centre[0]) / 1000, ss = (R.sd[1] - R.sd[0]) / 1000;
    for (const [w, lim, st] of [[centre, R.centre, cs], [sd, R.sd, ss]]) {
      w.start = lim[0]; w.end = lim[1]; w.step = st;
      if (w.value < lim[0] || w.value > lim[1]) { w.value = 0.5 * (lim[0] + lim[1]); }
    }
    for (const [w, lim, st] of [[centre_in, R.centre, cs], [sd_in, R.sd, ss]]) {
      w.low = lim[0]; w.high = lim[1]; w.step = st;
    }
    centre.title = `Centre of your prior (${SCALE[scale][0]})`;
    sd.title = `Spread of your prior: sd (${SCALE[scale][0]})`;
  }
  // the spinners and the sliders show the same prior
  if (cb_obj === centre_in && centre_in.value != null) { centre.value = Math.min(Math.max(centre_in.value, R.centre[0]), R.centre[1]); }
  if (cb_obj === sd_in && sd_in.value != null) { sd.value = Math.min(Math.max(sd_in.value, R.sd[0]), R.sd[1]); }
  centre_in.value = centre.value; sd_in.value = sd.value;

  const c = centre.value, s = sd.value;
  const key = `${O.name}|${control_sel.value}|${scale}`;
  const T = D.tables[key], ax = T.axes;
  const k = +threshold_sel.value;
  const lower = O.lower_is_better;

  // -- the numbers ----------------------------------------------------------------------------
  const pb = interp(ax.prob_centre, ax.prob_sd, decode(T.p_benefit), c, s);
  const pt = T.p_threshold.map((e) => interp(ax.prob_centre, ax.prob_sd, decode(e), c, s));
  const est = {};
  for (const m of ["rd", "log_or", "log_rr"]) {
    est[m] = ["median", "lower", "upper"].map((q) => interp(ax.est_centre, ax.est_sd, decode(T.estimates[`${m}_${q}`]), c, s));
  }
  const shown = {
    p_benefit: fp(pb), p_threshold: pt.map(fp),
    rd: est.rd.map(frd), or: est.log_or.map(fratio), rr: est.log_rr.map(fratio),
    centre: c, sd: s, scale: scale, outcome: O.name, control: control_sel.value, threshold: k,
  };
  const better = lower ? "lower is better" : "higher is better";
  const ci = (v) => `${v[0]} (${v[1]} to ${v[2]})`;
  let thr = "";
  O.thresholds.forEach((t, i) => {
    const me = i === k ? ' class="chosen"' : "";
    thr += `<tr${me}><td>P(${esc(t.label.replace(" (trial file)", ""))})${i === k ? " &#9664;" : ""}</td><td class="num" data-q="p_threshold_${i}">${shown.p_threshold[i]}</td></tr>`;
  });
  results.text = `<div class="lnbx-results">
<p class="sentence" data-q="sentence">Under your prior, the probability that ${esc(D.trial.treatment)} adds benefit is <b data-q="p_benefit">${shown.p_benefit}</b>.</p>
<p class="small">Your prior: ${esc(SCALE[scale][0])} ~ Normal(centre ${c.toFixed(3)}, sd ${s.toFixed(3)}), centred on ${esc(onScale(scale, c))}; control arm: ${esc(O.controls.find((x) => x.key === control_sel.value).label)}.
Outcome: ${esc(O.label)} (${O.counts.treatment[0]}/${O.counts.treatment[1]} ${esc(D.trial.treatment)}, ${O.counts.control[0]}/${O.counts.control[1]} ${esc(D.trial.control)}; ${better}).</p>
<table class="lnbx"><tr><th>Posterior probability</th><th></th></tr>
<tr><td>P(benefit)</td><td class="num">${shown.p_benefit}</td></tr>${thr}</table>
<table class="lnbx"><tr><th>Posterior</th><th>median (95% interval)</th></tr>
<tr><td>Risk difference</td><td class="num" data-q="rd">${ci(shown.rd)}</td></tr>
<tr><td>Odds ratio</td><td class="num" data-q="or">${ci(shown.or)}</td></tr>
<tr><td>Risk ratio</td><td class="num" data-q="rr">${ci(shown.rr)}</td></tr></table></div>`;

  // -- tipping points at the reader's sd -------------------------------------------------------
  const [j, fs] = locate(ax.prob_sd, s);
  const most = lower ? "at most" : "at least";
  let tips = `<p><b>What one would have needed to believe.</b> The tipping points at your spread (sd ${s.toFixed(3)}):</p><ul>`;
  const sign = lower ? "&le;" : "&ge;";
  for (const level of D.settings.levels) {
    const row = T.tipping[String(level)], a = row[j], b = row[j + 1];
    let text;
    if (typeof a === "number" && typeof b === "number") {
      const v = a + (b - a) * fs;
      const mine = lower ? c <= v : c >= v;
      text = `P(benefit) &ge; ${level} needs a prior centred on ${SCALE[scale][1]} ${sign} ${esc(onScale(scale, v).replace(/^\S+ /, ""))}: yours ${mine ? "does" : "does not"}`;
    } else if ((fs < 0.5 ? a : b) === "reached") {
      text = `P(benefit) &ge; ${level} with every centre in the grid`;
    } else {
      text = `P(benefit) &ge; ${level} with no centre in the grid (up to ${esc(onScale(scale, lower ? R.centre[0] : R.centre[1]))})`;
    }
    tips += `<li>${text}</li>`;
  }
  tipping.text = tips + "</ul>";

  // -- the named priors ------------------------------------------------------------------------
  let rows = `<tr class="you"><td>Your prior</td><td>${esc(SCALE[scale][0])} ~ Normal(${c.toFixed(3)}, ${s.toFixed(3)}&sup2;)</td><td class="num">${shown.p_benefit}</td><td class="num">${shown.p_threshold[k]}</td><td class="num">${ci(shown.rd)}</td><td class="num">${ci(shown.or)}</td></tr>`;
  for (const p of O.named) {
    const e = p.estimates;
    rows += `<tr><td>${esc(p.label)}</td><td>${esc(p.description)}</td><td class="num">${fp(p.p_benefit)}</td><td class="num">${fp(p.p_threshold[k])}</td>`
      + `<td class="num">${frd(e.rd.median)} (${frd(e.rd.lower)} to ${frd(e.rd.upper)})</td>`
      + `<td class="num">${e.or.median.toPrecision(4)} (${e.or.lower.toPrecision(4)} to ${e.or.upper.toPrecision(4)})</td></tr>`;
  }
  named.text = `<p><b>The trial file's priors</b> (exact results), beside yours:</p><table class="lnbx wide"><tr><th>prior</th><th>distribution</th><th>P(benefit)</th><th>P(${esc(O.thresholds[k].label.replace(" (trial file)", ""))})</th><th>risk difference</th><th>odds ratio</th></tr>${rows}</table>`;

  // -- the heatmap (redrawn when the table changes) --------------------------------------------
  const lg = (v) => Math.log10(v);
  if (X.key !== key) {
    const pv = decode(T.p_benefit), nc = ax.prob_centre.values.length, ns = ax.prob_sd.values.length;
    const img = Bokeh.require("core/util/ndarray").ndarray(Float64Array.from(pv), {dtype: "float64", shape: [ns, nc]});
    const c0 = ax.prob_centre.values[0], c1 = ax.prob_centre.values[nc - 1];
    const s0 = lg(ax.prob_sd.values[0]), s1 = lg(ax.prob_sd.values[ns - 1]);
    heat_src.data = {image: [img], x: [c0], y: [s0], dw: [c1 - c0], dh: [s1 - s0]};
    heat_fig.x_range.start = c0; heat_fig.x_range.end = c1;
    heat_fig.y_range.start = s0; heat_fig.y_range.end = s1;
    const xs = [], ys = [], lab = [];
    for (const level of [0.5, 0.95]) {
      const row = T.tipping[String(level)];
      const x = [], y = [];
      row.forEach((v, r) => { if (typeof v === "number") { x.push(v); y.push(lg(ax.prob_sd.values[r])); } });
      xs.push(x); ys.push(y); lab.push(`P(benefit) = ${level}`);
    }
    tip_src.data = {xs: xs, ys: ys, label: lab};
    const mk = {x: [], y: [], name: []};
    for (const p of O.named) {
      if (p.centre === null || p.scale !== scale || p.control_key !== control_sel.value) { continue; }
      if (p.sd < R.sd[0] || p.sd > R.sd[1] || p.centre < R.centre[0] || p.centre > R.centre[1]) { continue; }
      mk.x.push(p.centre); mk.y.push(lg(p.sd)); mk.name.push(p.label);
    }
    marks_src.data = mk;
    benefit_box.left = lower ? -1e9 : 0; benefit_box.right = lower ? 0 : 1e9;
    const hf = O.hoped_for_or;
    hoped.location = (hf !== null && scale === "log_or") ? Math.log(hf) : null;
    heat_fig.title.text = `P(benefit) by prior centre and sd; dashed: 0.5 and 0.95`;
    dens_fig.x_range.start = T.theta.start; dens_fig.x_range.end = T.theta.end;
    W.__lnbxScale = scale;
  }
  cross_v.location = c; cross_h.location = lg(s);
  you_src.data = {x: [c], y: [lg(s)]};

  // -- prior and posterior density at the nearest node of the estimate grid -------------------
  const [ei, efc] = locate(ax.est_centre, c), [ej, efs] = locate(ax.est_sd, s);
  const ni = ei + (efc >= 0.5 ? 1 : 0), nj = ej + (efs >= 0.5 ? 1 : 0);
  const node = nj * ax.est_centre.values.length + ni;
  const th = [];
  for (let p = 0; p < T.theta.n; p++) { th.push(T.theta.start + (T.theta.end - T.theta.start) * p / (T.theta.n - 1)); }
  dens_src.data = {x: th, prior: curve(D.curves[T.prior_density], node), post: curve(D.curves[T.posterior_density], node)};
  dens_fig.title.text = `Your prior and the posterior (at the nearest grid node: ${ax.est_centre.values[ni].toFixed(3)}, sd ${ax.est_sd.values[nj].toFixed(3)})`;
  thr_span.location = null;
  const t = O.thresholds[k];
  if ((t.scale === "or" && scale === "log_or") || (t.scale === "rr" && scale === "log_rr")) { thr_span.location = Math.log(t.value); }
  if (t.scale === "rd" && scale === "rd") { thr_span.location = t.value; }

  X.outcome = O.name; X.scale = scale; X.key = key;
  shown.update_ms = performance.now() - started;
  W.lnbayesShown = shown;
  W.lnbayesUpdates = (W.lnbayesUpdates || 0) + 1;
  if (!W.lnbayesReady) { W.lnbayesReady = performance.now(); }
} finally {
  W.__lnbxBusy = false;
}
