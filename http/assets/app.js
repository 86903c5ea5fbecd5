// The hpsweep dashboard's page script (served from the coordinator, http/dashboard.h). It asks
// /api/whoami what it may show, lists the sweeps, and follows the selected sweep over
// server-sent events (/api/sweeps/N/events): "status" (every sweep's counts), "workers" (every
// worker, as /api/workers), "snapshot" (every trial), "trial" (one trial's new state),
// "leaderboard". A snapshot may come with no trials and its trials follow as "trial" events; a
// long trial's epochs are thinned (its "epochs_shown" set). While no stream is open (no sweep yet) it asks /api/sweeps and /api/workers every
// few seconds instead. Every text from the server goes in with textContent, never as HTML. No
// libraries: the charts are SVG drawn here.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const CSRF = { 'X-Hpsweep-Csrf': '1' };
  const state = {
    sweep: 0,          // the selected sweep's id
    sweeps: [],        // the last "status"
    trials: new Map(), // trial id -> trial (export's shape) of the selected sweep
    top: new Set(),    // trial ids of the leaderboard's first ten
    canCancel: false,
    es: null,
    workers: null,     // the last /api/workers or "workers" event
    workersAt: 0,      // performance.now() when it came: the rows' ages grow from there
    timers: false,
    drawPending: false,
  };

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function fmt(v, digits) {
    return typeof v === 'number' && isFinite(v) && v >= 0 ? v.toFixed(digits) : '-';
  }
  function showError(msg) { $('error').textContent = msg || ''; }

  async function api(path, options) {
    const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, options || {}));
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, body: body };
  }

  // ---- who may do what ----
  async function start() {
    const who = await api('/api/whoami');
    if (who.status !== 200 || !who.body) { showError('cannot reach the coordinator'); return; }
    if (who.body.role === 'none') {
      $('login').hidden = false;
      $('main').hidden = true;
      return;
    }
    state.canCancel = !!who.body.can_cancel;
    const signed = who.body.tokens ? 'signed in as ' + who.body.role : '';
    // `hpsweep dashboard --db FILE`: a finished (or another process's) database, never written.
    $('who').textContent = who.body.read_only ? (signed ? signed + ', ' : '') + 'read-only' : signed;
    $('logout').hidden = !who.body.tokens;
    $('login').hidden = true;
    $('main').hidden = false;
    const sweeps = await api('/api/sweeps');
    if (sweeps.status !== 200) { showError(sweeps.body ? sweeps.body.error : 'error'); return; }
    renderStatus(sweeps.body);
    const m = /sweep=(\d{1,18})/.exec(location.hash);
    let id = m ? Number(m[1]) : 0;
    if (!state.sweeps.some((s) => s.id === id)) {
      id = state.sweeps.length ? state.sweeps[state.sweeps.length - 1].id : 0;
    }
    if (id) select(id);  // (before any other wait: the sweeps and the detail show together)
    startTimers();
    // The workers, unless the event stream has brought a newer list meanwhile.
    const asked = state.workersAt;
    const workers = await api('/api/workers');
    if (workers.status === 200 && state.workersAt === asked) renderWorkers(workers.body);
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = new URLSearchParams({ token: $('token').value });
    $('token').value = '';
    const r = await api('/login', { method: 'POST', headers: CSRF, body: body });
    if (r.status !== 200) {
      $('login-error').textContent = r.body && r.body.error ? r.body.error : 'refused';
      return;
    }
    $('login-error').textContent = '';
    start();
  });
  $('logout').addEventListener('click', async () => {
    await api('/logout', { method: 'POST', headers: CSRF });
    if (state.es) state.es.close();
    location.reload();
  });
  $('cancel').addEventListener('click', async () => {
    if (!state.sweep || !window.confirm('Cancel sweep ' + state.sweep + '?')) return;
    const r = await api('/api/sweeps/' + state.sweep + '/cancel', { method: 'POST', headers: CSRF });
    $('cancel-msg').textContent = r.status === 200
      ? r.body.stopped + ' trials stopped' : (r.body && r.body.error) || 'refused';
  });

  // ---- live updates ----
  function select(id) {
    state.sweep = id;
    state.trials = new Map();
    state.top = new Set();
    history.replaceState(null, '', '#sweep=' + id);
    $('detail').hidden = false;
    $('cancel-msg').textContent = '';
    clearTable('leaderboard');
    renderSweeps();
    draw();
    if (state.es) state.es.close();
    const es = new EventSource('/api/sweeps/' + id + '/events');
    state.es = es;
    es.onopen = () => { $('live').textContent = 'live'; $('live').className = 'on'; };
    es.onerror = () => { $('live').textContent = 'reconnecting'; $('live').className = 'off'; };
    es.addEventListener('status', (e) => renderStatus(JSON.parse(e.data)));
    es.addEventListener('workers', (e) => renderWorkers(JSON.parse(e.data)));
    es.addEventListener('snapshot', (e) => {
      const snap = JSON.parse(e.data);
      state.trials = new Map();
      for (const t of snap.trials) state.trials.set(t.id, t);
      scheduleDraw();
    });
    es.addEventListener('trial', (e) => {
      const t = JSON.parse(e.data);
      if (t.sweep !== state.sweep) return;
      state.trials.set(t.id, t);
      scheduleDraw();
    });
    es.addEventListener('leaderboard', (e) => renderLeaderboard(JSON.parse(e.data)));
  }

  function renderStatus(s) {
    state.sweeps = s.sweeps || [];
    $('workers').textContent = s.workers_alive + (s.workers_alive === 1 ? ' worker' : ' workers') + ' alive';
    renderSweeps();
  }

  function renderSweeps() {
    const body = $('sweeps').tBodies[0];
    body.textContent = '';
    $('no-sweeps').hidden = state.sweeps.length > 0;
    for (const s of state.sweeps) {
      const tr = el('tr');
      tr.dataset.sweep = s.id;
      if (s.id === state.sweep) tr.className = 'selected';
      // A program sweep no live worker offers waits: its state says why (docs/programs.md).
      const stateCell = el('td', s.state + (s.waiting ? ' (waiting: ' + s.waiting + ')' : ''), 'state');
      tr.append(el('td', s.id, 'num'), el('td', s.name), stateCell);
      const done = el('td', s.completed + ' / ' + s.total, 'num completed');
      done.dataset.value = s.completed;
      tr.append(done, el('td', s.running, 'num'), el('td', s.queued, 'num'),
        el('td', s.failed, 'num'), el('td', s.stopped, 'num'),
        el('td', s.pruned === undefined ? '-' : s.pruned, 'num pruned'),
        el('td', s.ranked_by), el('td', s.best === null ? '-' : fmt(s.best, 4), 'num best'));
      tr.addEventListener('click', () => select(s.id));
      body.append(tr);
      if (s.id === state.sweep) {
        $('detail-title').textContent = 'Sweep ' + s.id + ' (' + s.name + '): ' + s.state;
        $('cancel').hidden = !(state.canCancel && s.state === 'running');
        $('early-terminate').textContent = s.early_terminate ? ': ' + s.early_terminate : ', none here';
      }
    }
  }

  // ---- workers ----
  // While no event stream is open (no sweep to follow yet), a light poll; and every second the
  // "last heard" ages grow on the page, so that the server need not resend unchanged rows.
  function startTimers() {
    if (state.timers) return;
    state.timers = true;
    setInterval(async () => {
      if (state.es) return;
      const sweeps = await api('/api/sweeps');
      if (sweeps.status !== 200) return;
      renderStatus(sweeps.body);
      const workers = await api('/api/workers');
      if (workers.status === 200) renderWorkers(workers.body);
      if (!state.sweep && state.sweeps.length) select(state.sweeps[state.sweeps.length - 1].id);
    }, 5000);
    setInterval(ageWorkers, 1000);
  }

  function ago(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + 's ago';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm' + String(s % 60).padStart(2, '0') + 's ago';
    return Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm ago';
  }

  function ageWorkers() {
    if (!state.workers) return;
    const extra = (performance.now() - state.workersAt) / 1000;
    const rows = $('workers-table').tBodies[0].rows;
    const list = state.workers.workers || [];
    for (let i = 0; i < rows.length && i < list.length; i++) {
      const cell = rows[i].querySelector('td.ago');
      if (cell) cell.textContent = ago(list[i].seconds_since_seen + extra);
    }
  }

  // A quarantined worker's state: the word, and why (its last error) on hover and after it.
  function quarantinedCell(k) {
    const td = el('td', 'quarantined: ' + k.quarantine, 'state quarantined');
    td.title = 'leased nothing until `hpsweep workers --release ' + k.name +
      '` or a restart with a new binary or data';
    return td;
  }

  // Each worker's state is the read model's (coordinator/views.h), as `hpsweep workers` has it:
  // idle, training (its trial in the next cell), quarantined or gone.
  function renderWorkers(w) {
    state.workers = w;
    state.workersAt = performance.now();
    const list = w.workers || [];
    const body = $('workers-table').tBodies[0];
    body.textContent = '';
    $('no-workers').hidden = list.length > 0;
    $('workers-summary').textContent = w.alive + ' alive, ' + w.gone + ' gone' +
      (w.shown < w.alive + w.gone ? ' (the first ' + w.shown + ' shown)' : '');
    for (const k of list) {
      const tr = el('tr', null, k.state);
      tr.dataset.worker = k.id;
      const t = k.trial;
      tr.append(el('td', k.id, 'num'), el('td', k.name), el('td', k.host || '-'),
        el('td', k.precision || '-', 'precision'),
        k.state === 'quarantined' ? quarantinedCell(k) : el('td', k.state, 'state ' + k.state),
        el('td', t ? t.label : '-', 'trial'),
        el('td', t ? t.epoch : '-', 'num'),
        el('td', k.trials_done, 'num done'), el('td', k.trials_failed, 'num failed'),
        el('td', ago(k.seconds_since_seen), 'ago'));
      body.append(tr);
    }
  }

  function clearTable(id) { $(id).tBodies[0].textContent = ''; }

  // The params that differ between the sweep's trials (a label first), for short row names: a
  // conditional one that some trials lack (its condition did not hold) differs too.
  function varyingKeys() {
    const seen = new Map();
    for (const t of state.trials.values()) {
      for (const k in t.params) {
        const v = JSON.stringify(t.params[k]);
        if (!seen.has(k)) seen.set(k, new Set());
        seen.get(k).add(v);
      }
    }
    for (const t of state.trials.values()) {
      for (const k of seen.keys()) if (!(k in t.params)) seen.get(k).add('-');
    }
    const keys = [...seen.keys()].filter((k) => seen.get(k).size > 1 || k === 'label');
    return keys.length ? keys : [...seen.keys()].slice(0, 3);
  }
  function paramText(params, keys) {
    return keys.filter((k) => k in params).map((k) => k + '=' + JSON.stringify(params[k])).join(' ');
  }

  function renderLeaderboard(lb) {
    if (!lb.sweep || lb.sweep.id !== state.sweep) return;
    $('ranked-by').textContent = 'ranked by ' + lb.sweep.ranked_by;
    $('metric-col').textContent = lb.sweep.metric;
    // Name the sweep's metric on the chart that shows it (test metrics: after training only).
    // A program's own metric (docs/programs.md) takes the first chart, by its name.
    const named = !['val_accuracy', 'val_loss', 'test_accuracy', 'test_loss'].includes(lb.sweep.metric);
    state.accKey = named ? lb.sweep.metric : 'val_accuracy';
    $('acc-caption').textContent = (named ? lb.sweep.metric : 'validation accuracy') + ' per epoch ';
    const onAcc = named || /accuracy$/.test(lb.sweep.metric);
    const note = 'ranked by ' + lb.sweep.metric + (lb.sweep.goal === 'minimize' ? ', lower is better' : ', higher is better');
    $('acc-metric').textContent = onAcc ? '(' + note + ')' : '';
    $('loss-metric').textContent = onAcc ? '' : '(' + note + ')';
    // A regression sweep (task: regression) has no accuracy: its test pass's errors instead.
    const reg = lb.rows.some((r) => r.test_metrics && 'test_mse' in r.test_metrics);
    const cols = reg ? ['test_mse', 'test_mae'] : ['val_accuracy', 'test_accuracy'];
    $('val-col').textContent = reg ? 'test mse' : 'val acc';
    $('test-col').textContent = reg ? 'test mae' : 'test acc';
    const cell = (r, key) => (reg ? (r.test_metrics || {})[key] : r[key]);
    const keys = varyingKeys();
    const body = $('leaderboard').tBodies[0];
    body.textContent = '';
    state.top = new Set();
    for (const r of lb.rows) {
      if (r.rank <= 10) state.top.add(r.trial_id);
      const tr = el('tr');
      // A program's trial: its number links to its kept output (stdout and stderr).
      const number = el('td', null, 'num');
      if (lb.sweep.program) {
        const a = el('a', '#' + r.number);
        a.href = '/api/sweeps/' + lb.sweep.id + '/output/' + r.trial_id;
        a.target = '_blank';
        a.title = 'the program\'s output';
        number.append(a);
      } else {
        number.textContent = '#' + r.number;
      }
      // Several objectives or constraints: the trial's front, or that it breaks a constraint.
      const rank = r.feasible === false ? r.rank + ' \u00b7 infeasible'
        : (r.front ? r.rank + ' \u00b7 front ' + r.front : r.rank);
      tr.append(el('td', rank, 'num'), number,
        el('td', paramText(r.params, keys)), el('td', r.best_epoch, 'num'),
        el('td', r.weights_epoch === null ? '-' : r.weights_epoch, 'num'),
        el('td', fmt(r.metric_value, 4), 'num'), el('td', fmt(cell(r, cols[0]), 4), 'num'),
        el('td', fmt(cell(r, cols[1]), 4), 'num'), el('td', r.epochs, 'num'),
        el('td', fmt(r.seconds, 1) + 's', 'num'), el('td', r.worker),
        el('td', statusText(r.status, r.epochs), 'status ' + r.status));
      body.append(tr);
    }
    frontChart(lb);
    scheduleDraw();
  }

  // A sweep of several objectives: its trials in the plane of the first two (the second across,
  // log where it spans over a decade), the first front solid and joined, dominated trials faded,
  // infeasible ones as rings. Hidden for a sweep of one metric.
  function frontChart(lb) {
    const root = $('front-chart');
    root.textContent = '';
    const names = lb.sweep.objectives || [];
    $('front-figure').hidden = names.length < 2;
    if (names.length < 2) return;
    $('front-caption').textContent = names[0] + ' against ' + names[1];
    const pts = lb.rows.map((r) => ({ r, x: (r.objectives || {})[names[1]], y: (r.objectives || {})[names[0]] }))
      .filter((p) => typeof p.x === 'number' && typeof p.y === 'number');
    if (!pts.length) return;
    const W = 480, H = 260, L = 44, R = 10, T = 10, B = 28;
    let x0 = Math.min(...pts.map((p) => p.x)), x1 = Math.max(...pts.map((p) => p.x));
    let y0 = Math.min(...pts.map((p) => p.y)), y1 = Math.max(...pts.map((p) => p.y));
    const log = x0 > 0 && x1 / x0 > 10;
    const fx = (v) => (log ? Math.log10(v) : v);
    let a = fx(x0), b = fx(x1);
    if (b - a < 1e-12) { a -= 0.5; b += 0.5; }
    if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
    const x = (v) => L + 6 + (fx(v) - a) / (b - a) * (W - L - R - 12);
    const y = (v) => T + 6 + (1 - (v - y0) / (y1 - y0)) * (H - T - B - 12);
    for (let i = 0; i <= 4; i++) {
      const yv = y0 + (y1 - y0) * i / 4, xv = log ? Math.pow(10, a + (b - a) * i / 4) : a + (b - a) * i / 4;
      root.append(svg('text', { x: L - 4, y: y(yv) + 3, 'text-anchor': 'end' }, yv.toPrecision(4)));
      root.append(svg('text', { x: x(xv), y: H - B + 14, 'text-anchor': 'middle' },
        Math.abs(xv) >= 1000 ? Math.round(xv) : xv.toPrecision(3)));
    }
    root.append(svg('text', { x: (L + W - R) / 2, y: H - 2, 'text-anchor': 'middle' }, names[1] + (log ? ' (log)' : '')));
    root.append(svg('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axis' }));
    root.append(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
    const first = pts.filter((p) => p.r.front === 1 && p.r.feasible !== false).sort((p, q) => p.x - q.x);
    if (first.length > 1) {
      root.append(svg('path', { d: first.map((p, i) => (i ? 'L' : 'M') + x(p.x).toFixed(1) + ',' + y(p.y).toFixed(1)).join(''), class: 'front-line' }));
    }
    for (const p of pts) {
      const kind = p.r.feasible === false ? 'infeasible' : (p.r.front === 1 ? 'front1' : 'dominated');
      const c = svg('circle', { cx: x(p.x).toFixed(1), cy: y(p.y).toFixed(1), r: kind === 'front1' ? 4.5 : 3.5,
        class: 'pt ' + kind, 'data-trial': p.r.number });
      c.append(svg('title', {}, '#' + p.r.number + ' ' + names[0] + ' ' + fmt(p.y, 4) + ', ' + names[1] + ' ' + p.x +
        (kind === 'infeasible' ? ' (breaks a constraint)' : kind === 'front1' ? ' (front 1)' : ' (front ' + p.r.front + ')')));
      root.append(c);
    }
  }

  // A pruned trial was stopped early by early_terminate, a stopped one by a cancel: both end early.
  function statusText(status, epochs) {
    if (status === 'pruned') return 'pruned at epoch ' + epochs;
    if (status === 'stopped') return 'stopped (cancelled) at epoch ' + epochs;
    return status;
  }

  // ---- charts ----
  function scheduleDraw() {
    if (state.drawPending) return;
    state.drawPending = true;
    requestAnimationFrame(() => { state.drawPending = false; draw(); });
  }

  function draw() {
    const trials = [...state.trials.values()].sort((a, b) => a.number - b.number);
    chart($('acc-chart'), trials, state.accKey || 'val_accuracy', false);
    chart($('loss-chart'), trials, 'val_loss', true);
    // The legend: every trial with epochs, in its curve's colour, the leaderboard's top ten bold.
    const legend = $('legend');
    legend.textContent = '';
    const keys = varyingKeys();
    for (const t of trials) {
      if (!t.epochs.length) continue;
      const ended = t.status === 'pruned' || t.status === 'stopped'
        ? ' (' + statusText(t.status, t.epochs_shown ? t.epochs[t.epochs.length - 1].epoch
          : t.epochs.length) + ')' : '';
      const item = el('span', '#' + t.number + ' ' + paramText(t.params, keys) + ended,
        (state.top.has(t.id) ? 'top ' : '') + t.status);
      item.style.borderColor = color(t);
      legend.append(item);
    }
  }

  function color(t) {
    const hue = (t.number * 137.508) % 360;
    return 'hsl(' + hue.toFixed(0) + ',65%,' + (state.top.has(t.id) ? 42 : 62) + '%)';
  }

  function chart(root, trials, key, fromZero) {
    root.textContent = '';
    const W = 480, H = 260, L = 44, R = 10, T = 10, B = 28;
    let maxEpoch = 1, lo = Infinity, hi = -Infinity;
    for (const t of trials) {
      for (const e of t.epochs) {
        const v = e[key];
        if (typeof v !== 'number' || !isFinite(v)) continue;
        maxEpoch = Math.max(maxEpoch, e.epoch);
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (fromZero) lo = 0;
    if (hi - lo < 1e-6) { hi = lo + 1; }
    const x = (ep) => L + (maxEpoch === 1 ? 0.5 : (ep - 1) / (maxEpoch - 1)) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4;
      root.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      root.append(svg('text', { x: L - 4, y: y(v) + 3, 'text-anchor': 'end' }, v.toFixed(3)));
    }
    const step = Math.max(1, Math.ceil(maxEpoch / 10));
    for (let ep = 1; ep <= maxEpoch; ep += step) {
      root.append(svg('text', { x: x(ep), y: H - B + 14, 'text-anchor': 'middle' }, ep));
    }
    root.append(svg('text', { x: (L + W - R) / 2, y: H - 2, 'text-anchor': 'middle' }, 'epoch'));
    root.append(svg('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axis' }));
    root.append(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
    const keys = varyingKeys();
    for (const t of trials) {
      const pts = t.epochs.filter((e) => typeof e[key] === 'number' && isFinite(e[key]));
      if (!pts.length) continue;
      const d = pts.map((e, i) => (i ? 'L' : 'M') + x(e.epoch).toFixed(1) + ',' + y(e[key]).toFixed(1)).join('');
      const top = state.top.has(t.id);
      const path = svg('path', {
        d: pts.length === 1 ? d + 'h0.01' : d,
        class: 'curve' + (top ? ' top' : '') +
          (t.status === 'pruned' || t.status === 'stopped' ? ' ' + t.status : ''),
        stroke: color(t),
        'stroke-linecap': 'round',
        'data-trial': t.number,
        'data-points': pts.length,
      });
      path.append(svg('title', {}, '#' + t.number + ' ' + paramText(t.params, keys) + ' (' +
        statusText(t.status, pts[pts.length - 1].epoch) + ')'));
      root.append(path);
      // Where a pruned or cancelled trial ended: a mark after its last epoch.
      if (t.status === 'pruned' || t.status === 'stopped') {
        const last = pts[pts.length - 1];
        const mark = svg('text', {
          x: x(last.epoch), y: y(last[key]) + 4, 'text-anchor': 'middle',
          class: 'end ' + t.status, 'data-trial': t.number, 'data-epoch': last.epoch,
        }, t.status === 'pruned' ? '\u2715' : '\u25A0');
        mark.style.fill = color(t);  // (CSSOM: the page's CSP refuses style attributes)
        root.append(mark);
      }
    }
  }

  start().catch((e) => showError(String(e)));
})();
