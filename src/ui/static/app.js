// The keybatch dashboard page: the summary from the event stream, a uPlot chart, the key table,
// failures by code, and the results viewer. Plain browser JavaScript, no build step. Everything
// shown is set with textContent (never innerHTML): rows are data, not markup.
(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const api = (path, params = {}) => {
    const query = new URLSearchParams({ ...params, token });
    return `${path}?${query}`;
  };
  const $ = (id) => document.getElementById(id);

  /** An element with attributes and children (strings become text). */
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === 'className') node.className = value;
      else if (name === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
    }
    return node;
  };

  const number = (n) => (n === undefined || n === null ? '?' : Number(n).toLocaleString('en-US'));
  // USD as the CLI shows it: null is a model without a price, undefined nothing priced yet.
  const usd = (n) => {
    if (n === undefined) return '–';
    if (n === null) return 'unknown';
    if (n === 0) return '$0';
    return `$${n.toFixed(n >= 1 ? 2 : n >= 0.01 ? 4 : 6)}`;
  };
  const duration = (ms) => {
    if (ms === undefined || ms === null) return '–';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  };
  const preview = (value) => {
    if (value === null || value === undefined) return '';
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) {
      const last = value.filter((m) => m && m.role === 'user').at(-1) ?? value.at(-1);
      return last && typeof last.content === 'string' ? last.content : JSON.stringify(value);
    }
    return JSON.stringify(value);
  };

  // ---- chart -------------------------------------------------------------------------------
  let chart;
  let readOnly = false;
  const makeChart = (summary) => {
    readOnly = summary.mode === 'read-only';
    const target = $('chart');
    const opts = {
      width: Math.max(300, target.clientWidth),
      height: 220,
      scales: {
        // Running: at least the last minute, so the first points do not stretch the axis over
        // years. Ended: the run's own time, from its start to its last point (a run of seconds
        // is not squeezed into the edge of a minute).
        x: {
          time: true,
          range: (_u, min, max) => {
            if (min === null) return [Date.now() / 1000 - 60, Date.now() / 1000];
            const ended = lastSummary !== undefined && lastSummary.state !== 'running';
            const span = ended ? Math.max(max - min, (lastSummary.elapsedMs ?? 0) / 1000, 1) : 60;
            return [Math.min(min, max - span), max];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes: [{}, { label: '/s' }],
      series: [
        {},
        { label: readOnly ? 'items done/s' : 'successful requests/s', stroke: '#1f9d55', width: 2 },
        { label: '429s/s', stroke: '#d97706', width: 2, show: !readOnly },
        { label: readOnly ? 'items failed/s' : 'errors/s', stroke: '#d03b3b', width: 2 },
      ],
    };
    chart = new uPlot(opts, chartData(summary), target);
    window.addEventListener('resize', () =>
      chart.setSize({ width: Math.max(300, target.clientWidth), height: 220 }),
    );
  };
  const chartData = (summary) => {
    const h = summary.history;
    return [h.t, h.ok, h.limited, h.errors];
  };

  // ---- live view -----------------------------------------------------------------------------
  let lastSummary;
  const renderKeys = (summary) => {
    const body = $('keys').tBodies[0];
    body.replaceChildren(
      ...summary.keys.map((key) => {
        const errors = Object.entries(key.errors || {})
          .filter(([, n]) => n > 0)
          .map(([name, n]) => `${name} ${n}`)
          .join(', ');
        // The domain's pacer: its mode and pace, then what the headers said (nothing without headers).
        const pacing = key.pacing;
        const learned = Object.entries(pacing?.learned ?? {}).map(
          ([name, value]) => `${name} ${typeof value === 'number' ? Math.round(value) : value}`,
        );
        const limits = pacing
          ? [`${pacing.mode} ${Math.round(pacing.requestsPerMinute)}/min`, ...learned].join(', ')
          : '';
        return el(
          'tr',
          { className: 'key-row', dataset: { key: key.key, state: key.state } },
          el(
            'td',
            { className: 'mono' },
            key.key,
            key.group ? el('span', { className: 'muted' }, ` (${key.group})`) : null,
          ),
          el('td', {}, el('span', { className: `state ${key.state}` }, key.state)),
          el('td', {}, key.coolingUntil ? new Date(key.coolingUntil).toLocaleTimeString() : ''),
          el('td', { className: 'num' }, number(key.requests)),
          el('td', { className: 'num' }, number(key.successes)),
          el('td', {}, errors),
          el('td', { className: 'num' }, number(key.tokens)),
          el('td', { className: 'num' }, key.cost ? usd(key.cost.usd) : ''),
          el('td', { className: 'mono' }, limits),
          el('td', { className: 'reason' }, key.reason || ''),
        );
      }),
    );
    $('keys').hidden = summary.keys.length === 0;
    $('keys-none').hidden = summary.keys.length > 0 || summary.mode === 'live';
    const s = summary.keyStates;
    $('key-states').textContent =
      summary.keys.length === 0
        ? ''
        : `${s.ready} ready · ${s.cooling} cooling · ${s.exhausted} exhausted · ${s.invalid} invalid`;
  };

  const renderFailures = (summary) => {
    const entries = Object.entries(summary.failures).sort((a, b) => b[1] - a[1]);
    $('failures').tBodies[0].replaceChildren(
      ...entries.map(([code, n]) => {
        const link = el('a', { href: '#results', dataset: { code } }, code);
        link.addEventListener('click', () => setFilter(`code:${code}`));
        return el(
          'tr',
          { className: 'failure-row' },
          el('td', { className: 'mono' }, link),
          el('td', { className: 'num' }, number(n)),
        );
      }),
    );
    $('failures').hidden = entries.length === 0;
    $('failures-none').hidden = entries.length > 0;
    // The filter offers every code seen.
    const select = $('filter');
    for (const [code] of entries) {
      if (![...select.options].some((o) => o.value === `code:${code}`)) {
        select.append(el('option', { value: `code:${code}` }, `failed: ${code}`));
      }
    }
  };

  const render = (summary) => {
    lastSummary = summary;
    const done = summary.done + summary.skipped;
    $('mode').textContent = summary.mode === 'live' ? 'live' : 'read-only';
    $('state').textContent = summary.state;
    $('state').className = `badge ${summary.state}`;
    $('output').textContent = summary.output;
    $('done').textContent = number(done);
    $('done').dataset.value = String(done);
    $('total').textContent = number(summary.total);
    const finished = done + summary.failed;
    $('bar-fill').style.width = summary.total ? `${Math.min(100, (finished / summary.total) * 100)}%` : '0';
    $('failed').textContent = number(summary.failed);
    $('in-flight').textContent = number(summary.inFlight);
    $('rate').textContent = summary.rate > 0 ? `${summary.rate.toFixed(1)}/s` : '–';
    $('eta').textContent = summary.state === 'running' && !summary.blocked ? duration(summary.etaMs) : '–';
    $('tokens').textContent = number(summary.tokens);
    $('cost').textContent = usd(summary.costUsd);
    $('elapsed').textContent = duration(summary.elapsedMs);
    $('blocked').hidden = !summary.blocked;
    $('blocked-hint').replaceChildren(
      ...(summary.configPath
        ? [
            'Edit ',
            el('code', { id: 'blocked-config' }, summary.configPath),
            ' to add or fix a key (it is watched).',
          ]
        : ['No config file is watched: stop the run, fix the key, and rerun to resume.']),
    );
    renderKeys(summary);
    renderFailures(summary);
    if (!chart) makeChart(summary);
    else chart.setData(chartData(summary));
    maybeRefreshRows(summary);
  };

  const connect = () => {
    const events = new EventSource(api('api/events'));
    events.addEventListener('summary', (event) => {
      $('connection').textContent = 'live';
      $('connection').className = 'connection live';
      render(JSON.parse(event.data));
    });
    events.addEventListener('end', () => {
      // The run has ended: nothing more will come, so the page holds no connection open.
      events.close();
      $('connection').textContent = 'ended';
      $('connection').className = 'connection';
      finalRows();
    });
    events.addEventListener('error', () => {
      $('connection').textContent = 'reconnecting…';
      $('connection').className = 'connection';
    });
  };

  // ---- results viewer --------------------------------------------------------------------------
  const PAGE = 25;
  const view = { offset: 0, filter: 'all', q: '', matched: 0, selected: undefined };
  let loading = false;
  let lastLoadedAt = 0;
  let lastFinished = -1;

  const setFilter = (filter) => {
    $('filter').value = filter;
    view.filter = filter;
    view.offset = 0;
    loadRows();
  };

  const statusTag = (entry) =>
    entry.code === undefined
      ? el('span', { className: 'tag ok' }, 'answered')
      : el('span', { className: 'tag bad' }, entry.code);

  const loadRows = async () => {
    loading = true;
    lastLoadedAt = Date.now();
    try {
      const response = await fetch(
        api('api/rows', { offset: view.offset, limit: PAGE, filter: view.filter, q: view.q }),
      );
      const page = await response.json();
      view.matched = page.matched;
      $('rows-from').textContent =
        page.from === 'output'
          ? '(from the output file)'
          : page.from === 'checkpoint'
            ? '(from the checkpoint, as the run goes)'
            : '';
      $('rows-count').textContent = `${number(page.matched)} rows`;
      const pages = Math.max(1, Math.ceil(page.matched / PAGE));
      $('page').textContent = `page ${Math.floor(view.offset / PAGE) + 1} of ${pages}`;
      $('prev').disabled = view.offset === 0;
      $('next').disabled = view.offset + PAGE >= page.matched;
      $('rows').tBodies[0].replaceChildren(
        ...page.rows.map((entry) => {
          const row = entry.row ?? {};
          const tr = el(
            'tr',
            { className: 'result-row', dataset: { i: String(entry.i) } },
            el('td', { className: 'num' }, String(entry.i + 1)),
            el('td', { className: 'mono' }, row.id === undefined ? '' : String(row.id)),
            el('td', {}, statusTag(entry)),
            el('td', {}, preview(row.prompt).slice(0, 200)),
            el(
              'td',
              {},
              entry.code === undefined
                ? preview(row.response).slice(0, 200)
                : (row.error?.message ?? '').slice(0, 200),
            ),
          );
          if (view.selected === entry.i) tr.classList.add('selected');
          tr.addEventListener('click', () => openConversation(entry, tr));
          return tr;
        }),
      );
    } finally {
      loading = false;
    }
  };

  // The rows once more after the run ended (the summaries that refreshed them have stopped).
  const finalRows = () => {
    if (loading) setTimeout(finalRows, 200);
    else loadRows();
  };

  const maybeRefreshRows = (summary) => {
    const finished = summary.done + summary.failed + summary.skipped;
    if (finished === lastFinished || loading || Date.now() - lastLoadedAt < 3000) return;
    lastFinished = finished;
    loadRows();
  };

  const content = (value) => {
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) {
      return value
        .map((part) => (part && typeof part.text === 'string' ? part.text : JSON.stringify(part, null, 2)))
        .join('\n');
    }
    return JSON.stringify(value, null, 2);
  };
  const bubble = (role, kind, ...children) =>
    el('div', { className: `msg ${kind}` }, el('span', { className: 'role' }, role), ...children);

  const openConversation = (entry, tr) => {
    const row = entry.row ?? {};
    view.selected = entry.i;
    for (const other of $('rows').tBodies[0].rows) other.classList.remove('selected');
    tr.classList.add('selected');
    $('conversation-title').textContent = `#${entry.i + 1}${row.id === undefined ? '' : ` · ${row.id}`}`;
    const parts = [];
    const isPromptRow = 'prompt' in row || 'response' in row || 'system_prompt' in row;
    if (!isPromptRow && !row.error) {
      parts.push(bubble('result', 'assistant', el('pre', {}, JSON.stringify(row, null, 2))));
    }
    if (row.system_prompt) parts.push(bubble('system', 'system', row.system_prompt));
    if (Array.isArray(row.prompt)) {
      for (const message of row.prompt) {
        const role = message?.role ?? 'message';
        const kind =
          role === 'user'
            ? 'user'
            : role === 'system' || role === 'developer'
              ? 'system'
              : role === 'tool'
                ? 'tool'
                : 'assistant';
        parts.push(bubble(role, kind, content(message?.content ?? message)));
      }
    } else if (row.prompt !== undefined && row.prompt !== null) {
      parts.push(bubble('user', 'user', content(row.prompt)));
    }
    if (row.response !== undefined && row.response !== null) {
      const text =
        typeof row.response === 'string' ? row.response : JSON.stringify(row.response).slice(0, 2000);
      parts.push(bubble('assistant', 'assistant answer', text));
    }
    if (row.refusal) parts.push(bubble('refusal', 'error', row.refusal));
    for (const call of row.tool_calls ?? []) {
      const fn = call.function ?? {};
      let args = fn.arguments ?? '';
      try {
        args = JSON.stringify(JSON.parse(args), null, 2);
      } catch {}
      parts.push(bubble(`tool call · ${fn.name ?? call.type ?? ''}`, 'tool', el('pre', {}, args)));
    }
    if (Array.isArray(row.output))
      parts.push(bubble('output', 'tool', el('pre', {}, JSON.stringify(row.output, null, 2))));
    if (row.error) {
      const e = row.error;
      parts.push(
        bubble(
          `error${e.code ? ` · ${e.code}` : ''}${e.status ? ` · ${e.status}` : ''}`,
          'error',
          e.message ?? '',
        ),
      );
    }
    const meta = [];
    if (row.model) meta.push(`model ${row.model}`);
    if (row.finish_reason) meta.push(`finish ${row.finish_reason}`);
    if (row.usage) {
      const u = row.usage;
      const p = u.prompt_tokens ?? u.input_tokens;
      const c = u.completion_tokens ?? u.output_tokens;
      meta.push(`tokens ${p ?? '?'} in · ${c ?? '?'} out · ${u.total_tokens ?? '?'} total`);
    }
    if (meta.length > 0) parts.push(el('div', { className: 'meta usage' }, meta.join(' · ')));
    $('conversation-body').replaceChildren(...parts);
    $('conversation').hidden = false;
  };

  $('conversation-close').addEventListener('click', () => {
    $('conversation').hidden = true;
    view.selected = undefined;
    for (const other of $('rows').tBodies[0].rows) other.classList.remove('selected');
  });
  $('filter').addEventListener('change', () => setFilter($('filter').value));
  let searchTimer;
  $('search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      view.q = $('search').value.trim();
      view.offset = 0;
      loadRows();
    }, 300);
  });
  $('prev').addEventListener('click', () => {
    view.offset = Math.max(0, view.offset - PAGE);
    loadRows();
  });
  $('next').addEventListener('click', () => {
    view.offset += PAGE;
    loadRows();
  });

  fetch(api('api/summary'))
    .then((response) => response.json())
    .then((summary) => {
      if (!lastSummary) render(summary);
      connect();
      loadRows();
    });
})();
