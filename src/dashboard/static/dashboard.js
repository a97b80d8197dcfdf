// The ringkv dashboard page: polls /api/status on the admin port that served it (the node asks every
// member's Status and answers with the cluster view, src/dashboard/status.ts) and draws it: members,
// the problems `ringkv cluster status` would print, throughput and latency per node (uPlot), the
// hash ring and the shards × nodes grid, moves in flight, and each shard's numbers.
// Plain browser JavaScript, served as it is (no bundler). Everything from the API is text put into
// elements with textContent, never parsed as HTML.

/** One poll a second; a poll that takes longer than this is abandoned. */
const POLL_MS = 1000;
const POLL_TIMEOUT_MS = 4000;
/** Points kept per chart series: three minutes at one a second. */
const HISTORY_POINTS = 180;
/** Columns of the placement grid; beyond, a count. */
const GRID_SHARDS_MAX = 256;
const PALETTE = [
  '#3182ce',
  '#dd6b20',
  '#38a169',
  '#805ad5',
  '#d53f8c',
  '#319795',
  '#b7791f',
  '#e53e3e',
  '#5a67d8',
  '#2d3748',
];
const LEADERLESS = '#cbd5e0';
const SVG_NS = 'http://www.w3.org/2000/svg';

/** What the page holds; `window.ringkvDashboard` is this object (the browser test reads it). */
const state = {
  polls: 0,
  failures: 0,
  /** The last answer of /api/status. */
  last: null,
  /** Since when the admin port has not answered (ms), or null. */
  lostSinceMs: null,
  /** Node id → color, in the order first seen (stable while the members are). */
  colors: new Map(),
  /** Sample times (s) and, per node, throughput and p99 latency (null: no value at that time). */
  history: { t: [], throughput: new Map(), latency: new Map() },
  charts: { throughput: null, latency: null },
  /** The node ids the charts were built for, joined. */
  chartNodes: '',
};
window.ringkvDashboard = state;

// ---- small helpers ------------------------------------------------------------------------------

/** An element with attributes (class, data-*, title, style vars) and children (nodes or text). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('--')) el.style.setProperty(k, v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function colorOf(nodeId) {
  if (!state.colors.has(nodeId)) state.colors.set(nodeId, PALETTE[state.colors.size % PALETTE.length]);
  return state.colors.get(nodeId);
}

function fixed(n, digits) {
  return n === null || n === undefined ? '—' : n.toFixed(digits);
}

function rate(n) {
  if (n === null || n === undefined) return '—';
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function groupName(id) {
  return id === 0 ? 'meta' : String(id);
}

function isUp(m) {
  return m.up && m.state !== 'down';
}

// ---- polling ------------------------------------------------------------------------------------

async function poll() {
  try {
    const res = await fetch('/api/status', {
      cache: 'no-store',
      signal: AbortSignal.timeout(POLL_TIMEOUT_MS),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    state.polls++;
    state.lostSinceMs = null;
    state.last = body;
    record(body);
    render(body);
  } catch (e) {
    state.failures++;
    state.lostSinceMs ??= Date.now();
    renderLost(e instanceof Error ? e.message : String(e));
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

/** Appends this answer's rates to the charts' history (bounded to HISTORY_POINTS). */
function record(s) {
  const hist = state.history;
  hist.t.push(s.sampledAtMs / 1000);
  const ids = new Set(s.members.map((m) => m.nodeId));
  for (const id of ids) {
    for (const series of [hist.throughput, hist.latency]) {
      if (!series.has(id)) series.set(id, new Array(hist.t.length - 1).fill(null));
    }
  }
  for (const [id, values] of hist.throughput) {
    const m = s.members.find((x) => x.nodeId === id);
    const load = m && isUp(m) ? m.load : null;
    values.push(load ? load.requestsPerSecond : null);
    hist.latency.get(id).push(load ? load.latencyP99Ms : null);
  }
  // Nodes that left the member list leave the charts once they have no point left.
  if (hist.t.length > HISTORY_POINTS) {
    hist.t.shift();
    for (const series of [hist.throughput, hist.latency])
      for (const values of series.values()) values.shift();
  }
  for (const id of [...hist.throughput.keys()]) {
    if (!ids.has(id) && hist.throughput.get(id).every((v) => v === null)) {
      hist.throughput.delete(id);
      hist.latency.delete(id);
    }
  }
}

// ---- rendering ----------------------------------------------------------------------------------

function render(s) {
  for (const m of s.members) colorOf(m.nodeId);
  renderSummary(s);
  renderFreshness(true, `live · updated ${clock(s.sampledAtMs)}`);
  renderProblems(s.problems);
  renderMembers(s.members, s.membersOmitted);
  renderCharts();
  renderRing(s);
  renderGrid(s);
  renderMoves(s);
  renderShards(s);
}

function renderSummary(s) {
  const el = document.getElementById('summary');
  const up = s.members.filter(isUp).length;
  el.replaceChildren(
    'cluster ',
    h('b', {}, s.clusterId.slice(0, 8) || '?'),
    ' · ',
    h('b', {}, `${up}/${s.members.length}`),
    ' members up · ',
    h('b', {}, s.shardCount),
    ' shards × R=',
    h('b', {}, s.replicationFactor || '?'),
    ' · leaders ',
    h('b', {}, s.leaderPlacement || '?'),
    ' · served by ',
    h('b', {}, s.servedBy),
  );
  document.title = `ringkv · ${s.problems.length === 0 ? 'healthy' : `${s.problems.length} problem(s)`}`;
}

function renderFreshness(live, text) {
  const el = document.getElementById('freshness');
  el.dataset.state = live ? 'live' : 'lost';
  document.getElementById('freshness-text').textContent = text;
}

function renderProblems(problems) {
  const el = document.getElementById('problems');
  if (problems.length === 0) {
    el.className = 'problems healthy';
    el.replaceChildren(h('b', {}, 'Healthy. '), 'Every group has a leader and every member answers.');
    return;
  }
  el.className = 'problems unhealthy';
  const items = problems.map((p) =>
    p.startsWith('warning: ') ? h('li', { class: 'warning' }, p.slice('warning: '.length)) : h('li', {}, p),
  );
  el.replaceChildren(
    h('b', {}, `${problems.length} problem${problems.length === 1 ? '' : 's'}`),
    ' (as ringkv cluster status reports them)',
    h('ul', {}, items),
  );
}

function renderLost(why) {
  renderFreshness(false, `no answer since ${clock(state.lostSinceMs)}`);
  const el = document.getElementById('problems');
  el.className = 'problems lost';
  el.replaceChildren(
    h('b', {}, `This node's admin port does not answer (${location.host}). `),
    `Showing what it last said; retrying every second. (${why})`,
  );
}

function renderMembers(members, omitted) {
  const cards = members.map((m) => {
    const up = isUp(m);
    const pill = up
      ? m.state === 'up' || m.state === ''
        ? h('span', { class: 'pill up' }, 'up')
        : h('span', { class: 'pill other' }, m.state)
      : h('span', { class: 'pill down' }, 'down');
    const load = up ? m.load : null;
    return h(
      'div',
      {
        class: `member${up ? '' : ' down'}`,
        'data-node': m.nodeId,
        'data-up': String(up),
        '--node': colorOf(m.nodeId),
      },
      h('div', { class: 'head' }, h('span', { class: 'name' }, m.nodeId), pill),
      h(
        'dl',
        {},
        h('dt', {}, 'client'),
        h('dd', {}, m.clientAddr),
        h('dt', {}, 'peer'),
        h('dd', {}, m.raftAddr),
        m.zone ? [h('dt', {}, 'zone'), h('dd', {}, m.zone)] : null,
        h('dt', {}, 'role'),
        h('dd', {}, m.role),
        h('dt', {}, 'leads'),
        h('dd', {}, `${m.shardsLed} shard${m.shardsLed === 1 ? '' : 's'}`),
      ),
      m.error && !m.up ? h('div', { class: 'error' }, m.error) : null,
      h(
        'div',
        { class: 'stats' },
        h(
          'div',
          { class: 'stat' },
          h('b', { 'data-field': 'rps' }, rate(load?.requestsPerSecond)),
          h('span', {}, 'req/s'),
        ),
        h('div', { class: 'stat' }, h('b', {}, fixed(load?.latencyP50Ms, 2)), h('span', {}, 'p50 ms')),
        h('div', { class: 'stat' }, h('b', {}, fixed(load?.latencyP99Ms, 2)), h('span', {}, 'p99 ms')),
        load && load.failedPerSecond > 0
          ? h('div', { class: 'stat' }, h('b', {}, rate(load.failedPerSecond)), h('span', {}, 'failed/s'))
          : null,
      ),
    );
  });
  document
    .getElementById('members')
    .replaceChildren(...cards, omitted > 0 ? h('div', { class: 'more' }, `and ${omitted} more members`) : '');
}

function chartOptions(el, unit, digits) {
  const ids = [...state.history.throughput.keys()];
  return {
    width: Math.max(200, el.clientWidth),
    height: 220,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
    axes: [
      { stroke: '#6b7686', grid: { stroke: '#eef1f5' } },
      { stroke: '#6b7686', grid: { stroke: '#eef1f5' }, size: 56 },
    ],
    series: [
      {},
      ...ids.map((id) => ({
        label: id,
        stroke: colorOf(id),
        width: 2,
        points: { show: false },
        value: (_u, v) => (v === null || v === undefined ? '—' : `${v.toFixed(digits)} ${unit}`),
      })),
    ],
  };
}

function chartData(kind) {
  const series = state.history[kind];
  return [state.history.t, ...[...series.keys()].map((id) => series.get(id))];
}

function renderCharts() {
  if (typeof uPlot !== 'function') return; // its script failed to load: the numbers are on the cards
  const nodes = [...state.history.throughput.keys()].join(',');
  for (const [kind, elId, unit, digits] of [
    ['throughput', 'chart-throughput', 'req/s', 1],
    ['latency', 'chart-latency', 'ms', 2],
  ]) {
    const el = document.getElementById(elId);
    if (state.charts[kind] === null || state.chartNodes !== nodes) {
      state.charts[kind]?.destroy();
      el.replaceChildren();
      state.charts[kind] = new uPlot(chartOptions(el, unit, digits), chartData(kind), el);
    } else {
      state.charts[kind].setData(chartData(kind));
    }
  }
  state.chartNodes = nodes;
}

window.addEventListener('resize', () => {
  for (const [kind, elId] of [
    ['throughput', 'chart-throughput'],
    ['latency', 'chart-latency'],
  ]) {
    const chart = state.charts[kind];
    const el = document.getElementById(elId);
    if (chart) chart.setSize({ width: Math.max(200, el.clientWidth), height: 220 });
  }
});

/** The hash ring: one arc per data shard over its slots, colored by its leader. */
function renderRing(s) {
  const el = document.getElementById('ring');
  const data = s.shards.filter((x) => x.shardId !== 0);
  const slots = Math.max(0, ...data.map((x) => x.slotLast + 1));
  const parts = [svg('circle', { r: 116, fill: 'none', stroke: '#e2e6ec', 'stroke-width': 1 })];
  data.forEach((x, i) => {
    const [from, to] =
      slots > 0 && x.slotFirst >= 0
        ? [x.slotFirst / slots, (x.slotLast + 1) / slots]
        : [i / data.length, (i + 1) / data.length];
    const color = x.leader === '' ? LEADERLESS : colorOf(x.leader);
    const path = svg('path', {
      d: arc(from, to, 74, 112),
      fill: color,
      stroke: x.move ? '#dd6b20' : '#fff',
      'stroke-width': x.move ? 3 : 1.5,
    });
    path.append(svg('title', {}, shardTitle(x)));
    parts.push(path);
    if (to - from > 0.035) {
      const mid = ((from + to) / 2) * 2 * Math.PI - Math.PI / 2;
      parts.push(
        svg('text', { x: (93 * Math.cos(mid)).toFixed(1), y: (93 * Math.sin(mid)).toFixed(1) }, x.shardId),
      );
    }
  });
  parts.push(svg('text', { class: 'center big', x: 0, y: -8 }, s.shardCount));
  parts.push(svg('text', { class: 'center', x: 0, y: 14 }, `shards · ${s.members.length} nodes`));
  el.replaceChildren(...parts);
}

/** An annulus sector from fraction `a` to `b` of the circle, starting at 12 o'clock. */
function arc(a, b, r1, r2) {
  const gap = Math.min(0.004, (b - a) / 4);
  const t0 = (a + gap) * 2 * Math.PI - Math.PI / 2;
  const t1 = (b - gap) * 2 * Math.PI - Math.PI / 2;
  const large = t1 - t0 > Math.PI ? 1 : 0;
  const p = (r, t) => `${(r * Math.cos(t)).toFixed(2)} ${(r * Math.sin(t)).toFixed(2)}`;
  return `M ${p(r2, t0)} A ${r2} ${r2} 0 ${large} 1 ${p(r2, t1)} L ${p(r1, t1)} A ${r1} ${r1} 0 ${large} 0 ${p(r1, t0)} Z`;
}

function shardTitle(x) {
  const lines = [
    `${x.shardId === 0 ? 'metadata group' : `shard ${x.shardId}`}: leader ${x.leader || 'none'}`,
    `voters ${x.voters.join(', ') || '—'}`,
  ];
  if (x.learners.length > 0) lines.push(`learners ${x.learners.join(', ')}`);
  if (x.slotFirst >= 0) lines.push(`slots ${x.slotFirst}–${x.slotLast}`);
  if (x.move) lines.push(`moving ${x.move.source || '∅'} → ${x.move.target || '∅'} (${x.move.step})`);
  return lines.join('\n');
}

/** Rows: members; columns: groups; each cell what the member is in that group. */
function renderGrid(s) {
  const shards = s.shards.slice(0, GRID_SHARDS_MAX);
  const head = h(
    'tr',
    {},
    h('th', {}, ''),
    shards.map((x) => h('th', { title: shardTitle(x) }, groupName(x.shardId))),
    h('th', { class: 'count' }, 'shards led / held'),
  );
  const rows = s.members.map((m) =>
    h(
      'tr',
      { class: isUp(m) ? '' : 'down', 'data-node': m.nodeId },
      h(
        'th',
        { class: 'node', '--node': colorOf(m.nodeId) },
        h('span', { class: 'swatch' }),
        m.nodeId,
        isUp(m) ? '' : ' (down)',
      ),
      shards.map((x) => h('td', {}, cell(x, m.nodeId))),
      h('td', { class: 'count' }, `${led(s.shards, m.nodeId)} / ${held(s.shards, m.nodeId)}`),
    ),
  );
  document.getElementById('grid').replaceChildren(h('thead', {}, head), h('tbody', {}, rows));
  const more = s.shards.length - shards.length + s.shardsOmitted;
  const wrap = document.querySelector('.grid-wrap');
  wrap.querySelector('.more')?.remove();
  if (more > 0) wrap.append(h('div', { class: 'more' }, `and ${more} more shards (see the table below)`));
}

/** Data shards `nodeId` leads (the metadata group aside). */
function led(shards, nodeId) {
  return shards.filter((x) => x.shardId !== 0 && x.leader === nodeId).length;
}

/** Data shards `nodeId` holds a replica of (voter or learner). */
function held(shards, nodeId) {
  return shards.filter((x) => x.shardId !== 0 && (x.voters.includes(nodeId) || x.learners.includes(nodeId)))
    .length;
}

function cell(x, nodeId) {
  let kind = 'none';
  if (x.voters.includes(nodeId)) kind = x.leader === nodeId ? 'leader' : 'voter';
  else if (x.learners.includes(nodeId)) kind = 'learner';
  else if (x.votersOutgoing.includes(nodeId)) kind = 'outgoing';
  else if (x.leader === nodeId) kind = 'leader';
  const moving = x.move && (x.move.source === nodeId || x.move.target === nodeId);
  const what = {
    none: 'no replica',
    leader: 'leader',
    voter: 'voter',
    learner: 'learner',
    outgoing: 'leaving',
  }[kind];
  return h('span', {
    class: `cell ${kind}${moving ? ' moving' : ''}`,
    '--node': colorOf(nodeId),
    title: `${nodeId}, ${x.shardId === 0 ? 'metadata group' : `shard ${x.shardId}`}: ${what}${moving ? ` (move: ${x.move.step})` : ''}`,
    'data-kind': kind,
  });
}

function renderMoves(s) {
  document.getElementById('moves-summary').textContent =
    `${s.moves.length} in flight · ${s.movesWanted} more wanted by the rebalancer`;
  const el = document.getElementById('moves');
  if (s.moves.length === 0) {
    el.replaceChildren(h('div', { class: 'muted' }, 'No replica move in flight.'));
    return;
  }
  const rows = s.moves.map((m) =>
    h(
      'tr',
      {},
      h('td', {}, m.shardId),
      h('td', {}, m.source ? tag(m.source) : h('span', { class: 'muted' }, '(adds a replica)')),
      h('td', {}, m.target ? tag(m.target) : h('span', { class: 'muted' }, '(removes a replica)')),
      h('td', {}, m.step),
    ),
  );
  el.replaceChildren(
    h(
      'table',
      { class: 'table' },
      h(
        'thead',
        {},
        h('tr', {}, h('th', {}, 'shard'), h('th', {}, 'from'), h('th', {}, 'to'), h('th', {}, 'step')),
      ),
      h('tbody', {}, rows),
    ),
  );
}

function tag(nodeId) {
  return h('span', { class: 'tag', '--node': colorOf(nodeId) }, nodeId);
}

function renderShards(s) {
  const num = (v) => h('td', { class: 'num' }, v);
  const rows = s.shards.map((x) =>
    h(
      'tr',
      {},
      h('td', {}, x.shardId === 0 ? 'metadata' : x.shardId),
      h('td', {}, x.leader ? tag(x.leader) : h('span', { class: 'tag leaderless' }, 'none')),
      h('td', {}, x.voters.join(', ')),
      h('td', {}, x.learners.join(', ') || h('span', { class: 'muted' }, '—')),
      num(x.term),
      num(x.commit),
      num(x.shardId === 0 ? '—' : x.keys),
      num(x.shardId === 0 ? '—' : bytes(x.bytes)),
      num(x.lagMax),
      h('td', {}, x.move ? `${x.move.source || '∅'} → ${x.move.target || '∅'} (${x.move.step})` : ''),
    ),
  );
  const th = (t, cls) => h('th', cls ? { class: cls } : {}, t);
  document
    .getElementById('shards')
    .replaceChildren(
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          th('group'),
          th('leader'),
          th('voters'),
          th('learners'),
          th('term', 'num'),
          th('commit', 'num'),
          th('keys', 'num'),
          th('size', 'num'),
          th('lag max', 'num'),
          th('move'),
        ),
      ),
      h('tbody', {}, rows),
    );
}

void poll();
