// The dashboard's behaviour: reads the filters from the URL, fetches the JSON
// API of `dfstore serve` and renders the KPI cards, the charts (Apache
// ECharts, vendored under /vendor/) and the quality and lineage panels.
//
// Contract with the browser test (jobs/tests/browser/dashboard.py):
// - each KPI card `#kpi-<name>` carries the API's exact string in
//   `data-value` (money is never re-printed from a float there);
// - `body[data-ready]` is a counter that goes up by one each time every fetch
//   for the current filters has finished and every chart has finished
//   drawing, errors included, so the test waits on it instead of sleeping.
'use strict';

(function () {
  const money = new Intl.NumberFormat('es-PE', {
    style: 'currency', currency: 'PEN', minimumFractionDigits: 2, maximumFractionDigits: 2,
  });
  const integer = new Intl.NumberFormat('es-PE', { maximumFractionDigits: 0 });
  const percent = new Intl.NumberFormat('es-PE', {
    style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: 'exceptZero',
  });
  const plainPercent = new Intl.NumberFormat('es-PE', {
    style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1,
  });
  const axisNumber = new Intl.NumberFormat('es-PE', { maximumFractionDigits: 1 });
  const monthName = new Intl.DateTimeFormat('es-PE', { month: 'long', year: 'numeric', timeZone: 'UTC' });
  // Runs are shown in the business's time zone (all stores are in Peru).
  const dateTime = new Intl.DateTimeFormat('es-PE', {
    dateStyle: 'medium', timeStyle: 'short', timeZone: 'America/Lima',
  });
  const shortDateTime = new Intl.DateTimeFormat('es-PE', {
    day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', timeZone: 'America/Lima',
  });

  const KPIS = [
    { key: 'venta_neta', money: true },
    { key: 'margen_bruto', money: true },
    { key: 'tickets', money: false },
    { key: 'ticket_promedio', money: true },
    { key: 'unidades', money: false },
  ];
  const FILTERS = ['month', 'region', 'format', 'store'];
  const CHARTS = ['trend', 'stores', 'region', 'format', 'rejected'];
  const TOP_STORES = 15;
  const QUALITY_RUNS = 15;
  // A chart that never reports 'finished' must not hold the ready flag back forever.
  const DRAW_TIMEOUT_MS = 5000;
  const MUTED = '#5f6b7a';

  const state = {
    catalog: null, // the /api/filters document
    month: '',
    monthChosen: false, // the month came from the URL or the user, so it goes into the URL
    region: '',
    format: '',
    store: '',
  };
  const charts = {};
  let generation = 0; // each refresh takes a number; an older one's results are dropped
  let renders = 0; // the data-ready counter
  const startupErrors = []; // shown with every refresh's own errors

  const $ = (selector) => document.querySelector(selector);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (name === 'className') node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // ---- formatting -------------------------------------------------------

  function formatMoney(value) {
    return value === null || value === undefined || value === '' ? '—' : money.format(Number(value));
  }

  function formatInteger(value) {
    return value === null || value === undefined || value === '' ? '—' : integer.format(Number(value));
  }

  // Axis labels in the business's words: "850 mil", "1.2 M" (millones); ICU's
  // compact notation mixes "k" and "K" in es-PE.
  function compact(value) {
    const size = Math.abs(value);
    if (size >= 1e6) return axisNumber.format(value / 1e6) + ' M';
    if (size >= 1e3) return axisNumber.format(value / 1e3) + ' mil';
    return axisNumber.format(value);
  }

  function monthLabel(month) {
    const match = /^(\d{4})-(\d{2})$/.exec(month || '');
    if (!match) return month || '';
    const label = monthName.format(new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1)));
    return label.charAt(0).toUpperCase() + label.slice(1);
  }

  function formatInstant(iso, format) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso || '—') : (format || dateTime).format(date);
  }

  // The text an empty chart shows: no rows for these filters, or (doc null)
  // the API did not answer, which #error explains.
  function noData(doc, text) {
    return {
      text: doc ? text || 'Sin datos para estos filtros' : 'No disponible',
      left: 'center',
      top: 'middle',
      textStyle: { color: MUTED, fontSize: 14, fontWeight: 'normal' },
    };
  }

  // ---- the API ------------------------------------------------------------

  // An answer other than 2xx: `message` is the API's own `error` sentence.
  class ApiError extends Error {
    constructor(message, status, path) {
      super(message);
      this.status = status; // null when the server could not be reached
      this.path = path;
    }
  }

  // GET /api/<path> with the non-empty parameters; throws an ApiError.
  async function api(path, params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== '' && value !== null && value !== undefined) query.set(name, value);
    }
    const url = '/api/' + path + (query.toString() ? '?' + query : '');
    let response;
    try {
      // no-store: a run published meanwhile must show on the next change, whatever the headers.
      response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    } catch (cause) {
      throw new ApiError(`No se pudo conectar con el servidor: ${cause.message}`, null, url);
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      // The API's errors are JSON with an `error` sentence; anything else
      // (a proxy's HTML page) is named by its status alone.
      const message = body && typeof body.error === 'string'
        ? body.error
        : `el servidor respondió ${response.status} ${response.statusText}`.trim();
      throw new ApiError(message, response.status, url);
    }
    if (body === null) throw new ApiError('respuesta vacía o no JSON', response.status, url);
    return body;
  }

  function dataParams() {
    return { month: state.month, region: state.region, format: state.format, store: state.store };
  }

  // ---- filters and the URL ------------------------------------------------

  function readUrl() {
    const query = new URLSearchParams(window.location.search);
    for (const name of FILTERS) state[name] = query.get(name) || '';
    state.monthChosen = state.month !== '';
  }

  function writeUrl() {
    const query = new URLSearchParams();
    for (const name of FILTERS) {
      if (name === 'month' && !state.monthChosen) continue;
      if (state[name] !== '') query.set(name, state[name]);
    }
    const search = query.toString();
    window.history.replaceState(null, '', window.location.pathname + (search ? '?' + search : ''));
  }

  function fillSelect(select, firstLabel, options, value) {
    select.replaceChildren();
    if (firstLabel !== null) select.append(el('option', { value: '' }, firstLabel));
    for (const option of options) select.append(el('option', { value: option.value }, option.label));
    // A value from the URL that the lake does not have stays visible; the API's
    // error for it is what the user sees.
    if (value !== '' && !options.some((option) => option.value === value)) {
      select.append(el('option', { value }, `${value} (no existe)`));
    }
    select.value = value;
    select.disabled = false;
  }

  function storesInScope() {
    return state.catalog.stores.filter((store) =>
      (state.region === '' || store.region === state.region) &&
      (state.format === '' || store.formato === state.format));
  }

  function fillStoreSelect() {
    const options = storesInScope().map((store) => ({
      value: String(store.id_tienda),
      label: `${store.codigo_tienda} · ${store.nombre_tienda}`,
    }));
    fillSelect($('#filter-store'), 'Todas', options, state.store);
  }

  function fillFilters() {
    const catalog = state.catalog;
    fillSelect($('#filter-month'), null,
      catalog.months.slice().reverse().map((month) => ({ value: month, label: monthLabel(month) })),
      state.month);
    fillSelect($('#filter-region'), 'Todas',
      catalog.regions.map((region) => ({ value: region, label: region })), state.region);
    fillSelect($('#filter-format'), 'Todos',
      catalog.formats.map((format) => ({ value: format, label: format })), state.format);
    fillStoreSelect();
  }

  function onFilterChange(name, value) {
    state[name] = value;
    if (name === 'month') state.monthChosen = true;
    if (name === 'region' || name === 'format') {
      // A store outside the new region or format would only give empty results.
      if (state.store !== '' && !storesInScope().some((store) => String(store.id_tienda) === state.store)) {
        state.store = '';
      }
      fillStoreSelect();
    }
    writeUrl();
    refresh();
  }

  // ---- rendering ------------------------------------------------------------

  // Sets a chart's option and resolves when ECharts has finished drawing it.
  function draw(name, option) {
    const chart = charts[name];
    if (!chart) return Promise.resolve();
    return new Promise((resolve) => {
      let timer = null;
      const finish = () => {
        chart.off('finished', finish);
        clearTimeout(timer);
        resolve();
      };
      chart.on('finished', finish);
      timer = setTimeout(finish, DRAW_TIMEOUT_MS);
      chart.setOption(Object.assign({ animationDuration: 300, animationDurationUpdate: 300 }, option), {
        notMerge: true,
      });
    });
  }

  function renderKpis(doc) {
    const current = doc ? doc.current : null;
    const previous = doc ? doc.previous : null;
    for (const kpi of KPIS) {
      const card = $('#kpi-' + kpi.key);
      const value = current ? current[kpi.key] : null;
      const before = previous ? previous[kpi.key] : null;
      const format = kpi.money ? formatMoney : formatInteger;
      card.dataset.value = value === null || value === undefined ? '' : String(value);
      card.dataset.previous = before === null || before === undefined ? '' : String(before);
      card.querySelector('.value').textContent = format(value);

      const previousText = !doc ? '' :
        doc.previous_month ? `${monthLabel(doc.previous_month)}: ${format(before)}` : 'Sin mes anterior';
      card.querySelector('.previous').textContent = previousText;

      const change = card.querySelector('.change');
      change.className = 'change';
      change.textContent = '';
      if (value !== null && value !== undefined && before !== null && before !== undefined && Number(before) !== 0) {
        const ratio = (Number(value) - Number(before)) / Math.abs(Number(before));
        change.textContent = `${ratio > 0 ? '▲' : ratio < 0 ? '▼' : '='} ${percent.format(ratio)} vs. mes anterior`;
        if (ratio > 0) change.classList.add('up');
        if (ratio < 0) change.classList.add('down');
      }
    }
  }

  function renderTrend(doc) {
    const days = doc ? doc.days : [];
    return draw('trend', {
      title: days.length ? undefined : noData(doc),
      tooltip: { trigger: 'axis', valueFormatter: (value) => formatMoney(value) },
      legend: { top: 0 },
      grid: { left: 16, right: 24, top: 36, bottom: 8, containLabel: true },
      xAxis: {
        type: 'category',
        data: days.map((day) => day.fecha),
        axisLabel: { formatter: (fecha) => fecha.slice(8, 10) + '/' + fecha.slice(5, 7) },
      },
      yAxis: { type: 'value', axisLabel: { formatter: (value) => compact(value) } },
      series: [
        { name: 'Venta neta', type: 'line', data: days.map((day) => Number(day.venta_neta)) },
        { name: 'Margen bruto', type: 'line', data: days.map((day) => Number(day.margen_bruto)) },
      ],
    });
  }

  function storeCode(store) {
    if (store.codigo_tienda) return store.codigo_tienda;
    const known = state.catalog && state.catalog.stores.find((s) => s.id_tienda === store.id_tienda);
    return known ? known.codigo_tienda : String(store.id_tienda);
  }

  function renderStores(doc) {
    const stores = doc ? doc.stores : [];
    const tbody = $('#stores-table tbody');
    tbody.replaceChildren(...stores.map((store, index) => {
      const venta = Number(store.venta_neta);
      const margin = venta !== 0 ? plainPercent.format(Number(store.margen_bruto) / venta) : '—';
      return el('tr', { 'data-id-tienda': store.id_tienda },
        el('td', { className: 'num' }, index + 1),
        el('td', { className: 'mono' }, storeCode(store)),
        el('td', { className: 'name' }, store.nombre_tienda),
        el('td', {}, store.region),
        el('td', {}, store.formato),
        el('td', { className: 'num', 'data-value': store.venta_neta }, formatMoney(store.venta_neta)),
        el('td', { className: 'num', 'data-value': store.margen_bruto }, formatMoney(store.margen_bruto)),
        el('td', { className: 'num' }, margin),
        el('td', { className: 'num' }, formatInteger(store.tickets)));
    }));

    const top = stores.slice(0, TOP_STORES);
    return draw('stores', {
      title: top.length ? undefined : noData(doc),
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (value) => formatMoney(value) },
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: 'value', splitNumber: 3, axisLabel: { formatter: (value) => compact(value) } },
      yAxis: {
        type: 'category',
        inverse: true, // the best store on top
        data: top.map((store) => `${storeCode(store)} ${store.nombre_tienda}`),
        axisLabel: { width: 170, overflow: 'truncate' },
      },
      series: [{
        name: 'Venta neta', type: 'bar', barMaxWidth: 22, data: top.map((store) => Number(store.venta_neta)),
      }],
    });
  }

  function renderBreakdown(doc) {
    const byRegion = doc ? doc.by_region : [];
    const byFormat = doc ? doc.by_format : [];
    const tooltip = (params) =>
      `${params.name}<br>${formatMoney(params.value)} · ${formatInteger(params.data.tickets)} tickets`;
    return Promise.all([
      draw('region', {
        title: byRegion.length ? undefined : noData(doc),
        tooltip: { trigger: 'item', formatter: tooltip },
        grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
        xAxis: { type: 'category', data: byRegion.map((row) => row.key) },
        yAxis: { type: 'value', axisLabel: { formatter: (value) => compact(value) } },
        series: [{
          name: 'Venta neta',
          type: 'bar',
          barMaxWidth: 60,
          data: byRegion.map((row) => ({ value: Number(row.venta_neta), tickets: row.tickets })),
        }],
      }),
      draw('format', {
        title: byFormat.length ? undefined : noData(doc),
        tooltip: { trigger: 'item', formatter: tooltip },
        legend: { bottom: 0 },
        series: [{
          name: 'Venta neta',
          type: 'pie',
          radius: ['40%', '68%'],
          label: { formatter: '{b}: {d} %' },
          data: byFormat.map((row) => ({ name: row.key, value: Number(row.venta_neta), tickets: row.tickets })),
        }],
      }),
    ]);
  }

  const OUTCOMES = { succeeded: 'correcta', failed: 'fallida', running: 'en curso' };

  function renderQuality(doc) {
    const runs = doc ? doc.runs : [];

    // Reconciliation: one row per run (newest first, as the API gives them),
    // one column per table that any run reconciled.
    const tables = [];
    for (const run of runs) {
      for (const item of run.reconciliation || []) if (!tables.includes(item.table)) tables.push(item.table);
    }
    $('#reconciliation-table thead tr').replaceChildren(
      el('th', {}, 'Ejecución'), el('th', {}, 'Terminó'), el('th', {}, 'Resultado'),
      ...tables.map((table) => el('th', {}, table)));
    $('#reconciliation-table tbody').replaceChildren(...runs.map((run) => {
      const holds = new Map((run.reconciliation || []).map((item) => [item.table, item.holds]));
      return el('tr', { 'data-run-id': run.run_id },
        el('td', { className: 'mono' }, run.run_id),
        el('td', {}, el('time', { datetime: run.finished_at }, formatInstant(run.finished_at))),
        el('td', { className: 'outcome-' + run.outcome }, OUTCOMES[run.outcome] || run.outcome),
        ...tables.map((table) => {
          if (!holds.has(table)) return el('td', { className: 'absent', title: 'sin conciliar' }, '—');
          return holds.get(table)
            ? el('td', { className: 'holds', title: 'cuadra' }, '✓')
            : el('td', { className: 'fails', title: 'no cuadra' }, '✗');
        }));
    }));

    // Rejected rows: the last runs, oldest on the left, one stacked series per table and rule.
    const recent = runs.slice(0, QUALITY_RUNS).reverse();
    const series = new Map();
    recent.forEach((run, index) => {
      for (const item of run.rejected || []) {
        const name = `${item.table} · ${item.rule}`;
        if (!series.has(name)) series.set(name, new Array(recent.length).fill(0));
        series.get(name)[index] += Number(item.rows);
      }
    });
    const anyRejected = [...series.values()].some((rows) => rows.some((count) => count > 0));
    return draw('rejected', {
      title: recent.length === 0 ? noData(doc, 'Sin ejecuciones registradas') :
        anyRejected ? undefined : noData(doc, 'Ninguna fila rechazada'),
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (value) => formatInteger(value) },
      legend: { type: 'scroll', top: 0 },
      grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
      xAxis: {
        type: 'category',
        data: recent.map((run) => run.run_id),
        axisLabel: { formatter: (runId) => {
          const run = recent.find((r) => r.run_id === runId);
          return run ? formatInstant(run.finished_at, shortDateTime) : runId;
        } },
      },
      yAxis: { type: 'value', name: 'filas', axisLabel: { formatter: (value) => compact(value) } },
      series: [...series.entries()].map(([name, data]) => ({ name, type: 'bar', stack: 'rechazadas', data })),
    });
  }

  function renderLineage(doc) {
    const footer = $('#lineage');
    footer.dataset.runId = doc && doc.run_id ? doc.run_id : '';
    if (!doc || !doc.run_id) {
      // No answer (the error says why), or a lake with no published run yet.
      footer.replaceChildren(el('span', { className: 'muted' },
        doc ? 'Linaje: ninguna ejecución publicada todavía' : 'Linaje: no disponible'));
      return;
    }
    const tables = (doc.tables || []).map((table) => `${table.table} v${table.version}`).join(', ');
    footer.replaceChildren(
      'Datos de la ejecución ', el('code', {}, doc.run_id),
      ' · publicada ', el('time', { datetime: doc.published_at }, formatInstant(doc.published_at)),
      ' · versiones: ', tables || '—');
  }

  // One line per distinct message: a bad filter fails every endpoint with the
  // same sentence, which is worth reading once, with the endpoints it came from.
  function showErrors(errors) {
    const lines = new Map();
    for (const error of errors) {
      if (!lines.has(error.message)) lines.set(error.message, { status: error.status, paths: [] });
      if (error.path) lines.get(error.message).paths.push(error.path.split('?')[0]);
    }
    const box = $('#error');
    box.textContent = [...lines.entries()].map(([message, where]) => {
      if (where.paths.length === 0) return message;
      const status = where.status ? `HTTP ${where.status}: ` : '';
      return `${message} (${status}${where.paths.join(', ')})`;
    }).join('\n');
    box.hidden = lines.size === 0;
  }

  function markReady() {
    renders += 1;
    document.body.dataset.ready = String(renders);
    document.body.removeAttribute('aria-busy');
  }

  // Fetches everything the current filters need, renders it, then bumps the
  // ready counter, unless a newer refresh started meanwhile.
  async function refresh() {
    const mine = ++generation;
    document.body.setAttribute('aria-busy', 'true');
    const params = dataParams();
    const sections = [
      { name: 'indicadores', fetch: () => api('kpis', params), render: renderKpis },
      { name: 'tendencia', fetch: () => api('trend', params), render: renderTrend },
      { name: 'tiendas', fetch: () => api('stores', params), render: renderStores },
      { name: 'desglose', fetch: () => api('breakdown', params), render: renderBreakdown },
      { name: 'calidad', fetch: () => api('quality'), render: renderQuality },
      { name: 'linaje', fetch: () => api('lineage'), render: renderLineage },
    ];
    let results;
    for (let attempt = 1; ; attempt++) {
      results = await Promise.allSettled(sections.map((section) => section.fetch()));
      if (mine !== generation) return;
      // Every answer names the run it was computed from: a run published
      // between two of these requests would put two runs on one screen, so
      // they are fetched again (twice at most; the next run is minutes away).
      const runs = new Set(results
        .filter((result) => result.status === 'fulfilled' && result.value)
        .map((result) => result.value.run_id));
      if (runs.size <= 1 || attempt >= 3) break;
    }

    const errors = [];
    const drawing = sections.map((section, index) => {
      const result = results[index];
      if (result.status === 'rejected') errors.push(result.reason);
      const doc = result.status === 'fulfilled' ? result.value : null;
      try {
        // Wrapped so that one section's failure to render still lets the others finish.
        return Promise.resolve(section.render(doc)).catch((cause) => {
          errors.push(new Error(`No se pudo mostrar ${section.name}: ${cause.message}`));
        });
      } catch (cause) {
        errors.push(new Error(`No se pudo mostrar ${section.name}: ${cause.message}`));
        return Promise.resolve();
      }
    });
    await Promise.all(drawing);
    if (mine !== generation) return;
    showErrors(startupErrors.concat(errors));
    markReady();
  }

  async function start() {
    readUrl();
    if (typeof window.echarts === 'undefined') {
      startupErrors.push(new Error('No se pudo cargar /vendor/echarts.min.js: los gráficos no se mostrarán.'));
    } else {
      for (const name of CHARTS) charts[name] = window.echarts.init($('#chart-' + name), null, { renderer: 'canvas' });
      window.addEventListener('resize', () => Object.values(charts).forEach((chart) => chart.resize()));
    }

    try {
      state.catalog = await api('filters');
    } catch (cause) {
      showErrors(startupErrors.concat([cause]));
      markReady();
      return;
    }
    if (state.month === '') state.month = state.catalog.default_month || '';
    fillFilters();
    for (const name of FILTERS) {
      const select = $('#filter-' + name);
      select.addEventListener('change', () => onFilterChange(name, select.value));
    }
    writeUrl();
    await refresh();
  }

  start();
})();
