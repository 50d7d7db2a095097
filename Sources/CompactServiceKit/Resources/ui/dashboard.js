// compact-service dashboard: the machines, and per machine its pageblock map, free lists, indices and
// compaction as they happen. Plain canvas, no libraries, no inline script or style (CSP `script-src
// 'self'`), no eval. Data: GET /v1/machines, /v1/machines/{name}, …/pageblocks (binary, see
// openapi.yaml), …/pages, and one SSE stream per shown machine (stats, compaction tracepoints,
// compaction_scanners, pageblocks, job_progress).
'use strict';

(() => {
  // Pageblock colours by migratetype (Unmovable, Reclaimable, Movable, Reserve, Isolate). A cell is
  // its type's colour mixed with white: channel = round(255 + (base - 255) * (0.2 + 0.8 * used)), where
  // used = allocated pages / pages of the block (free, per-CPU and isolated free pages are unused). A
  // mixed block gets a dark corner (or, in cells under 5 pixels, is darkened to 60 %).
  const MT_NAMES = ['Unmovable', 'Reclaimable', 'Movable', 'Reserve', 'Isolate'];
  const MT_RGB = [[214, 69, 65], [232, 163, 23], [46, 117, 182], [142, 68, 173], [127, 140, 141]];
  const FIELDS = ['free', 'pcp', 'anon', 'file', 'slab', 'kernel', 'pinned', 'isolated_free'];
  const NF = FIELDS.length;
  const MIXED_RGB = [29, 39, 51];
  const KIND_RGB = { anon: [46, 117, 182], file: [111, 168, 220], pinned: [28, 61, 110], slab: [232, 163, 23], kernel: [214, 69, 65] };
  const MIGRATE_RGB = [23, 201, 100];
  const FREE_SCAN_RGB = [224, 54, 143];
  const SERIES = [
    ['compact_stall', 'compaction stalls'], ['compact_success', 'compaction successes'], ['compact_fail', 'compaction failures'],
    ['compact_pages_moved', 'pages migrated'], ['compact_migrate_scanned', 'pages scanned (migrate)'],
    ['compact_free_scanned', 'pages scanned (free)'],
    // 6.6 counts stalls per zone (allocstall_<zone>) where the old kernels have one allocstall.
    ['allocstall', 'allocstall (direct reclaim)', (v) => v.allocstall ?? sumOf(v, /^allocstall_/)],
    // 2.6.35 names reclaim's scans per zone (pgscan_kswapd_<zone>, pgscan_direct_<zone>), 6.6 per node.
    ['pgscan', 'pages scanned by reclaim', (v) => sumOf(v, /^pgscan_(kswapd|direct)(_|$)/)],
  ];
  // The sum of the vmstat items whose names match `re`.
  function sumOf(v, re) {
    let n = 0;
    for (const k in v) if (re.test(k)) n += v[k];
    return n;
  }
  const HISTORY = 480;

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const dpr = () => window.devicePixelRatio || 1;
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
  const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
  const fmtBytes = (b) => {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return `${b >= 100 || i === 0 ? Math.round(b) : b.toFixed(1)} ${u[i]}`;
  };
  const hex = (n) => '0x' + n.toString(16);

  // Everything the page knows; `window.compactDashboard` exposes it to the browser test.
  const S = {
    machines: [], selected: null, info: null, map: null, layout: null, stream: null, streamOpen: false,
    stats: null, history: [], scanQueue: [], scanCurrent: null, scanShownAt: 0, scanHideAt: 0, scannerLog: [],
    presets: [], auth: 'none', token: null, zoom: null, busy: false, deltasApplied: 0, statsEvents: 0,
    drawPending: false, chartsPending: false, mapDraws: 0, job: null,
  };
  window.compactDashboard = S;

  // ---------- HTTP ----------

  function storedToken() {
    try { return sessionStorage.getItem('compact-service-token'); } catch (e) { return null; }
  }
  function storeToken(t) {
    try { if (t) sessionStorage.setItem('compact-service-token', t); else sessionStorage.removeItem('compact-service-token'); } catch (e) { /* private mode */ }
  }

  // Asks for the token with the page's dialog; resolves to the token or null.
  function askToken() {
    return new Promise((resolve) => {
      const d = $('token-dialog');
      const input = $('token-input');
      input.value = '';
      const done = (v) => {
        $('token-form').removeEventListener('submit', onSubmit);
        $('token-cancel').removeEventListener('click', onCancel);
        d.close();
        resolve(v);
      };
      const onSubmit = (e) => { e.preventDefault(); done(input.value.trim() || null); };
      const onCancel = () => done(null);
      $('token-form').addEventListener('submit', onSubmit);
      $('token-cancel').addEventListener('click', onCancel);
      d.showModal();
      input.focus();
    });
  }

  // Whether a request of `method` needs the token on this server (`/readyz`: none, changes, all).
  const needsToken = (method) => S.auth === 'all' || (S.auth === 'changes' && method !== 'GET');

  // The token, asked for once, before the first request that needs it; kept for the tab.
  async function ensureToken(method) {
    if (!needsToken(method) || S.token) return;
    S.token = await askToken();
    if (!S.token) throw new Error('no token given');
    storeToken(S.token);
  }

  // Every request to the service: the token, when the server wants one, goes in the Authorization
  // header, never in a URL. A refused token is forgotten, so the next request asks again.
  async function api(method, path, body) {
    await ensureToken(method);
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (S.token) headers.Authorization = 'Bearer ' + S.token;
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    if (r.status === 401) {
      S.token = null;
      storeToken(null);
    }
    return r;
  }
  const change = api;

  async function problemText(r) {
    try {
      const p = await r.json();
      return `${r.status}: ${p.detail || p.title}`;
    } catch (e) {
      return `HTTP ${r.status}`;
    }
  }

  async function getJSON(path) {
    const r = await api('GET', path);
    if (!r.ok) throw new Error(await problemText(r));
    return r.json();
  }

  // Server-Sent Events over fetch, so the stream can carry the Authorization header (EventSource
  // cannot): parses `event:`, `data:`, `id:` and `retry:`, reconnects after a dropped connection with
  // `Last-Event-ID`, and gives up (calling `refused`) when the server answers with an error.
  function openEvents(url, handlers) {
    const ctl = new AbortController();
    const h = { closed: false, lastId: null, close() { h.closed = true; ctl.abort(); } };
    const run = async () => {
      let retry = 2000;
      while (!h.closed) {
        try {
          await ensureToken('GET');
          const headers = { Accept: 'text/event-stream' };
          if (S.token) headers.Authorization = 'Bearer ' + S.token;
          if (h.lastId !== null) headers['Last-Event-ID'] = h.lastId;
          const r = await fetch(url, { headers, signal: ctl.signal, cache: 'no-store' });
          if (!r.ok) {
            if (r.status === 401) { S.token = null; storeToken(null); }
            if (!h.closed && handlers.refused) handlers.refused(r.status);
            return;
          }
          if (handlers.open) handlers.open();
          const reader = r.body.getReader();
          const dec = new TextDecoder();
          let buf = '', name = 'message', data = [], id = null;
          for (;;) {
            const { value, done } = await reader.read();
            if (done || h.closed) break;
            buf += dec.decode(value, { stream: true });
            let nl;
            while ((nl = buf.indexOf('\n')) >= 0) {
              let line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (line.endsWith('\r')) line = line.slice(0, -1);
              if (line === '') {
                if (id !== null) h.lastId = id;
                if (data.length && !h.closed && handlers[name]) handlers[name](data.join('\n'));
                name = 'message'; data = []; id = null;
                continue;
              }
              if (line[0] === ':') continue;
              const c = line.indexOf(':');
              const field = c < 0 ? line : line.slice(0, c);
              let val = c < 0 ? '' : line.slice(c + 1);
              if (val[0] === ' ') val = val.slice(1);
              if (field === 'event') name = val;
              else if (field === 'data') data.push(val);
              else if (field === 'id') id = val;
              else if (field === 'retry' && /^[0-9]+$/.test(val)) retry = Number(val);
            }
          }
        } catch (e) {
          if (h.closed) return;
        }
        if (h.closed) return;
        if (handlers.error) handlers.error();
        await new Promise((res) => setTimeout(res, retry));
      }
    };
    run();
    return h;
  }

  // ---------- The pageblock document (binary; layout in openapi.yaml and PageblockMap.swift) ----------

  function decodePageblocks(buf) {
    const b = new Uint8Array(buf);
    if (b.length < 8 || b[0] !== 0x50 || b[1] !== 0x42 || b[2] !== 0x4d || b[3] !== 0x31) throw new Error('not a PBM1 document');
    const hlen = b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24);
    const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + hlen)));
    const n = header.block_count;
    const flags = new Uint8Array(n);
    const counts = new Uint16Array(n * NF);
    let i = 8 + hlen, blk = 0;
    const varint = () => {
      let v = 0, mul = 1, x;
      do { x = b[i++]; v += (x & 0x7f) * mul; mul *= 128; } while (x & 0x80);
      return v;
    };
    const c = new Uint16Array(NF);
    while (i < b.length) {
      const f = b[i++];
      const run = (f & 0x10) ? 1 + varint() : 1;
      const mask = b[i++];
      for (let k = 0; k < NF; k++) c[k] = (mask & (1 << k)) ? varint() : 0;
      if (blk + run > n) throw new Error('more records than blocks');
      for (let r = 0; r < run; r++, blk++) {
        flags[blk] = f & 0x0f;
        counts.set(c, blk * NF);
      }
    }
    if (blk !== n) throw new Error(`${blk} blocks decoded, header says ${n}`);
    return { header, flags, counts, generation: header.generation };
  }

  // ---------- Map layout and drawing ----------

  // Cells fill the map's width; each zone gets a label line and whole rows. The cell size shrinks until
  // the map fits its height; below one pixel a cell stands for `group` consecutive blocks.
  function computeLayout(header) {
    const box = $('map-box');
    const r = dpr();
    const W = Math.max(200, Math.floor(box.clientWidth * r));
    const maxH = Math.floor(Math.min(560, Math.max(300, window.innerHeight * 0.62)) * r);
    const labelH = Math.round(18 * r);
    const zones = header.zones;
    const fixedH = zones.length * labelH + Math.round(4 * r);
    let size = 1, group = 1, cols = W;
    const heightFor = (s, g) => {
      const c = Math.floor(W / s);
      return fixedH + zones.reduce((h, z) => h + Math.ceil(Math.ceil(z.blocks / g) / c) * s, 0);
    };
    let found = false;
    for (let s = Math.round(22 * r); s >= 1; s--) {
      if (heightFor(s, 1) <= maxH) { size = s; found = true; break; }
    }
    if (!found) {
      const rowsAvail = Math.max(1, maxH - fixedH - zones.length);
      const total = zones.reduce((a, z) => a + z.blocks, 0);
      group = Math.max(1, Math.ceil(total / (rowsAvail * W)));
      while (heightFor(1, group) > maxH) group++;
    }
    cols = Math.floor(W / size);
    // A zone that would be only a line or two high (a 16 MiB DMA zone beside a terabyte) gets larger
    // cells of its own, at least 6 pixels of height; its label gives its size.
    const minH = Math.round(6 * r);
    let y = 0;
    const zl = zones.map((z) => {
      const cells = Math.ceil(z.blocks / group);
      let zs = size;
      while (zs < Math.round(16 * r) && Math.ceil(cells / Math.floor(W / zs)) * zs < minH) zs++;
      const zc = Math.floor(W / zs);
      const rows = Math.ceil(cells / zc);
      const e = { ...z, labelY: y, top: y + labelH, cells, rows, size: zs, cols: zc, gap: zs >= 4 ? 1 : 0 };
      y += labelH + rows * zs;
      return e;
    });
    return { W, H: y + Math.round(4 * r), size, group, cols, labelH, zones: zl, dpr: r };
  }

  // The canvas rectangle (device pixels) of the cell holding block `b`, or null.
  function cellRect(b) {
    const L = S.layout;
    if (!L) return null;
    for (const z of L.zones) {
      if (b >= z.first_block && b < z.first_block + z.blocks) {
        const c = Math.floor((b - z.first_block) / L.group);
        return { x: (c % z.cols) * z.size, y: z.top + Math.floor(c / z.cols) * z.size, w: z.size - z.gap, h: z.size - z.gap, zone: z };
      }
    }
    return null;
  }

  // The block under a canvas point (device pixels): the first block of its cell.
  function blockAt(x, y) {
    const L = S.layout;
    if (!L) return null;
    for (const z of L.zones) {
      if (y >= z.top && y < z.top + z.rows * z.size) {
        const c = Math.floor((y - z.top) / z.size) * z.cols + Math.floor(x / z.size);
        if (x < 0 || x >= z.cols * z.size || c >= z.cells) return null;
        return { block: z.first_block + c * L.group, last: Math.min(z.first_block + z.blocks, z.first_block + (c + 1) * L.group) - 1, zone: z };
      }
    }
    return null;
  }

  function shade(mt, used, mixedDark) {
    const base = MT_RGB[mt] || MT_RGB[4];
    const t = 0.2 + 0.8 * used;
    const k = mixedDark ? 0.6 : 1;
    return [0, 1, 2].map((i) => Math.round((255 + (base[i] - 255) * t) * k));
  }

  function drawMap() {
    S.drawPending = false;
    const M = S.map, canvas = $('map');
    if (!M) return;
    const t0 = performance.now();
    const L = S.layout = computeLayout(M.header);
    if (canvas.width !== L.W || canvas.height !== L.H) {
      canvas.width = L.W; canvas.height = L.H;
      const o = $('map-overlay');
      o.width = L.W; o.height = L.H;
    }
    canvas.style.height = `${L.H / L.dpr}px`;
    $('map-overlay').style.height = `${L.H / L.dpr}px`;
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(L.W, L.H);
    const px = new Uint32Array(img.data.buffer);
    px.fill(0xffffffff);
    const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    const pack = (c) => le ? ((255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0 : ((c[0] << 24) | (c[1] << 16) | (c[2] << 8) | 255) >>> 0;
    const mixedPx = pack(MIXED_RGB);
    const g = L.group;
    const flags = M.flags, counts = M.counts;
    const byType = new Uint32Array(5);
    for (const z of L.zones) {
      const s = z.size, inner = s - z.gap;
      for (let c = 0; c < z.cells; c++) {
        const b0 = z.first_block + c * g, b1 = Math.min(z.first_block + z.blocks, b0 + g);
        let used = 0, pages = 0, mixed = false, mt;
        if (g === 1) {
          const o = b0 * NF;
          for (let k = 0; k < NF; k++) pages += counts[o + k];
          used = counts[o + 2] + counts[o + 3] + counts[o + 4] + counts[o + 5] + counts[o + 6];
          mixed = (flags[b0] & 8) !== 0;
          mt = flags[b0] & 7;
        } else {
          byType.fill(0);
          for (let b = b0; b < b1; b++) {
            const o = b * NF;
            for (let k = 0; k < NF; k++) pages += counts[o + k];
            used += counts[o + 2] + counts[o + 3] + counts[o + 4] + counts[o + 5] + counts[o + 6];
            if (flags[b] & 8) mixed = true;
            byType[flags[b] & 7]++;
          }
          mt = 0;
          for (let t = 1; t < 5; t++) if (byType[t] > byType[mt]) mt = t;
        }
        const col = pack(shade(mt, pages ? used / pages : 0, mixed && s < 5));
        const x0 = (c % z.cols) * s, y0 = z.top + Math.floor(c / z.cols) * s;
        const corner = mixed && s >= 5 ? Math.max(2, Math.floor(inner / 2.5)) : 0;
        for (let y = 0; y < inner; y++) {
          let p = (y0 + y) * L.W + x0;
          for (let x = 0; x < inner; x++, p++) px[p] = (x + y < corner) ? mixedPx : col;
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    // Zone and node labels.
    ctx.font = `${Math.round(12 * L.dpr)}px system-ui, "DejaVu Sans", sans-serif`;
    ctx.textBaseline = 'middle';
    let lastNode = -1;
    const pbBytes = M.header.pageblock_pages * M.header.page_size;
    for (const z of L.zones) {
      const y = z.labelY + L.labelH / 2;
      if (z.node !== lastNode && lastNode !== -1) {
        ctx.fillStyle = '#8795a5';
        ctx.fillRect(0, z.labelY, L.W, Math.max(1, Math.round(L.dpr)));
      }
      lastNode = z.node;
      ctx.fillStyle = '#1d2733';
      const text = `Node ${z.node} · ${z.name} · ${fmtBytes(z.pages * M.header.page_size)} · blocks ${z.first_block}–${z.first_block + z.blocks - 1}`;
      ctx.fillText(text, 2, y);
      if (L.group > 1) {
        ctx.fillStyle = '#6b7785';
        ctx.textAlign = 'right';
        ctx.fillText(`1 cell = ${L.group} blocks (${fmtBytes(L.group * pbBytes)})`, L.W - 2, y);
        ctx.textAlign = 'left';
      }
    }
    S.mapDraws++;
    S.lastDrawMs = performance.now() - t0;
    $('map-note').textContent = `${fmtInt(M.header.block_count)} pageblocks of ${fmtBytes(pbBytes)}` +
      (L.group > 1 ? `, ${L.group} per cell` : '') + ` · generation ${M.generation}` +
      ' · colour: migratetype, lighter = more free pages; dark corner = mixed (holds pages of another type). Click a block for its pages.';
    drawOverlay();
  }

  function scheduleDraw() {
    if (S.drawPending) return;
    S.drawPending = true;
    requestAnimationFrame(drawMap);
  }

  function drawLegend() {
    const lg = $('map-legend');
    lg.textContent = '';
    const swatch = (c, label) => {
      const it = el('span', 'item');
      const cv = document.createElement('canvas');
      const r = dpr();
      cv.width = 12 * r; cv.height = 12 * r;
      cv.style.width = '12px'; cv.style.height = '12px';
      const x = cv.getContext('2d');
      x.fillStyle = rgb(c); x.fillRect(0, 0, cv.width, cv.height);
      it.append(cv, document.createTextNode(label));
      lg.append(it);
    };
    MT_NAMES.forEach((n, i) => swatch(MT_RGB[i], n));
    swatch(shade(2, 0, false), 'free (light)');
    swatch(MIXED_RGB, 'mixed');
    swatch(MIGRATE_RGB, 'migrate scanner');
    swatch(FREE_SCAN_RGB, 'free scanner');
  }

  // ---------- Compaction scanners ----------

  // Positions from the stream are queued and shown one after another, so a compaction that took 20 ms
  // still shows its scanners sweep: up to 60 ms each, less when many wait, and none later than 300 ms
  // after it arrived, so the cursors stay with the map, which the stream updates four times a second.
  function queueScanners(p) {
    p.at = performance.now();
    S.scanQueue.push(p);
    if (S.scanQueue.length > 400) S.scanQueue.splice(0, S.scanQueue.length - 400);
  }

  function animate(now) {
    // Positions that waited more than 300 ms are skipped (a zone's end is always shown).
    while (S.scanQueue.length > 1 && now - S.scanQueue[0].at > 300 && !S.scanQueue[0].end) S.scanQueue.shift();
    if (S.scanQueue.length > 0) {
      const wait = Math.min(60, Math.max(4, 250 / S.scanQueue.length));
      if (now - S.scanShownAt >= wait) {
        S.scanCurrent = S.scanQueue.shift();
        S.scanShownAt = now;
        S.scanHideAt = S.scanCurrent.end ? now + 1500 : now + 4000;
        S.scannerLog.push({ node: S.scanCurrent.node, zone: S.scanCurrent.zone, migrate_pfn: S.scanCurrent.migrate_pfn,
                            free_pfn: S.scanCurrent.free_pfn, end: !!S.scanCurrent.end, t: Math.round(now) });
        if (S.scannerLog.length > 5000) S.scannerLog.splice(0, 1000);
        drawOverlay();
      }
    } else if (S.scanCurrent && now > S.scanHideAt) {
      S.scanCurrent = null;
      drawOverlay();
    }
    requestAnimationFrame(animate);
  }

  function drawOverlay() {
    const o = $('map-overlay'), L = S.layout, M = S.map;
    const ctx = o.getContext('2d');
    ctx.clearRect(0, 0, o.width, o.height);
    if (!L || !M) return;
    const p = S.scanCurrent;
    if (p) {
      const order = M.header.pageblock_order;
      const zone = L.zones.find((z) => z.node === p.node && z.name === p.zone);
      if (zone) {
        const mb = Math.min(Math.max(p.migrate_pfn >> order, zone.first_block), zone.first_block + zone.blocks - 1);
        const fb = Math.min(Math.max(p.free_pfn >> order, zone.first_block), zone.first_block + zone.blocks - 1);
        // Swept ground: the migration scanner's from the zone start, the free scanner's to the zone end.
        sweep(ctx, L, zone, zone.first_block, mb, MIGRATE_RGB);
        sweep(ctx, L, zone, fb, zone.first_block + zone.blocks - 1, FREE_SCAN_RGB);
        cursor(ctx, L, mb, MIGRATE_RGB, 'migrate ▸');
        cursor(ctx, L, fb, FREE_SCAN_RGB, '◂ free');
      }
    }
    if (S.hover) {
      const r = cellRect(S.hover.block);
      if (r) {
        ctx.strokeStyle = '#1d2733';
        ctx.lineWidth = Math.max(1, Math.round(L.dpr));
        ctx.strokeRect(r.x - 1, r.y - 1, Math.max(r.w, 1) + 2, Math.max(r.h, 1) + 2);
      }
    }
  }

  function sweep(ctx, L, zone, fromBlock, toBlock, c) {
    if (toBlock < fromBlock) return;
    ctx.fillStyle = `rgba(${c[0]},${c[1]},${c[2]},0.16)`;
    const c0 = Math.floor((fromBlock - zone.first_block) / L.group), c1 = Math.floor((toBlock - zone.first_block) / L.group);
    const r0 = Math.floor(c0 / zone.cols), r1 = Math.floor(c1 / zone.cols);
    for (let r = r0; r <= r1; r++) {
      const a = r === r0 ? c0 % zone.cols : 0, b = r === r1 ? c1 % zone.cols : zone.cols - 1;
      ctx.fillRect(a * zone.size, zone.top + r * zone.size, (b - a + 1) * zone.size, zone.size);
    }
  }

  function cursor(ctx, L, block, c, label) {
    const r = cellRect(block);
    if (!r) return;
    const m = Math.max(3 * L.dpr, r.zone.size * 0.35);
    const w = Math.max(r.w, 1), h = Math.max(r.h, 1);
    ctx.strokeStyle = rgb(c);
    ctx.lineWidth = Math.max(2, Math.round(2.5 * L.dpr));
    ctx.strokeRect(r.x - m / 2, r.y - m / 2, w + m, h + m);
    ctx.fillStyle = rgb(c);
    ctx.font = `bold ${Math.round(11 * L.dpr)}px system-ui, "DejaVu Sans", sans-serif`;
    ctx.textBaseline = 'bottom';
    const tw = ctx.measureText(label).width;
    const tx = Math.min(Math.max(0, r.x + w / 2 - tw / 2), L.W - tw - 2);
    const ty = Math.max(r.y - m / 2 - 2, Math.round(11 * L.dpr));
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(tx - 2, ty - Math.round(12 * L.dpr), tw + 4, Math.round(12 * L.dpr));
    ctx.fillStyle = rgb(c);
    ctx.fillText(label, tx, ty);
  }

  // ---------- Hover and the page view ----------

  function blockText(b, last) {
    const M = S.map, h = M.header;
    const sum = new Array(NF).fill(0);
    let mixed = 0;
    const types = new Array(5).fill(0);
    for (let i = b; i <= last; i++) {
      for (let k = 0; k < NF; k++) sum[k] += M.counts[i * NF + k];
      if (M.flags[i] & 8) mixed++;
      types[M.flags[i] & 7]++;
    }
    const first = b * h.pageblock_pages, end = (last + 1) * h.pageblock_pages - 1;
    const lines = [];
    if (last > b) {
      lines.push(`blocks ${b}–${last} · pfn ${hex(first)}–${hex(end)}`);
      lines.push(MT_NAMES.map((n, i) => types[i] ? `${n} ${types[i]}` : '').filter(Boolean).join(', ') + (mixed ? ` · ${mixed} mixed` : ''));
    } else {
      lines.push(`block ${b} · pfn ${hex(first)}–${hex(end)}`);
      lines.push(`${MT_NAMES[M.flags[b] & 7]}${M.flags[b] & 8 ? ' · mixed' : ''}`);
    }
    const pages = sum.reduce((a, x) => a + x, 0);
    lines.push(`free ${sum[0]}  pcp ${sum[1]}  isolated free ${sum[7]}  (${pages ? Math.round(100 * (sum[0] + sum[1] + sum[7]) / pages) : 0} % free)`);
    lines.push(`anon ${sum[2]}  file ${sum[3]}  slab ${sum[4]}  kernel ${sum[5]}  pinned ${sum[6]}`);
    return lines.join('\n');
  }

  function onMapMove(ev) {
    const L = S.layout;
    if (!L || !S.map) return;
    const rect = $('map').getBoundingClientRect();
    const x = (ev.clientX - rect.left) * L.dpr, y = (ev.clientY - rect.top) * L.dpr;
    const hit = blockAt(x, y);
    const tip = $('tooltip');
    if (!hit) {
      tip.classList.add('hidden');
      if (S.hover) { S.hover = null; drawOverlay(); }
      return;
    }
    if (!S.hover || S.hover.block !== hit.block) { S.hover = hit; drawOverlay(); }
    tip.textContent = `Node ${hit.zone.node} ${hit.zone.name}\n` + blockText(hit.block, hit.last);
    tip.classList.remove('hidden');
    const bx = ev.clientX - rect.left, by = ev.clientY - rect.top;
    const left = bx + 16 + tip.offsetWidth > rect.width ? bx - 16 - tip.offsetWidth : bx + 16;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${by + 16}px`;
  }

  function onMapLeave() {
    $('tooltip').classList.add('hidden');
    if (S.hover) { S.hover = null; drawOverlay(); }
  }

  function onMapClick(ev) {
    const L = S.layout;
    if (!L || !S.map) return;
    const rect = $('map').getBoundingClientRect();
    const hit = blockAt((ev.clientX - rect.left) * L.dpr, (ev.clientY - rect.top) * L.dpr);
    if (hit) openZoom(hit.block);
  }

  async function openZoom(block) {
    const h = S.map.header;
    S.zoom = { block, data: null, fetchedAt: 0, machine: S.selected };
    $('zoom').classList.remove('hidden');
    $('zoom-title').textContent = `Pages of block ${block} (pfn ${hex(block * h.pageblock_pages)}–${hex((block + 1) * h.pageblock_pages - 1)})`;
    await refreshZoom();
  }

  async function refreshZoom() {
    const z = S.zoom;
    if (!z || !S.map || z.machine !== S.selected) return;
    const h = S.map.header;
    z.fetchedAt = performance.now();
    const start = z.block * h.pageblock_pages;
    try {
      const d = await getJSON(`/v1/machines/${encodeURIComponent(S.selected)}/pages?start_pfn=${start}&count=${h.pageblock_pages}`);
      if (S.zoom !== z) return;
      z.data = d;
      drawZoom();
    } catch (e) {
      $('zoom-info').textContent = String(e.message || e);
    }
  }

  function pageColor(b) {
    if (b.state === 'allocated') return KIND_RGB[b.kind] || [90, 90, 90];
    if (b.state === 'pcp') return [127, 214, 208];
    if (b.state === 'isolated_free') return [170, 235, 195];
    const mt = MT_NAMES.indexOf(b.migratetype);
    return shade(mt < 0 ? 4 : mt, 0, false);
  }

  function zoomGeometry(n) {
    let cols = 1;
    while (cols * cols < n * 2) cols *= 2;
    cols = Math.min(cols, n);
    const box = $('zoom');
    const r = dpr();
    const size = Math.max(3, Math.min(Math.floor(18 * r), Math.floor((box.clientWidth * r) / cols)));
    return { cols, rows: Math.ceil(n / cols), size, r };
  }

  function drawZoom() {
    const z = S.zoom, d = z && z.data;
    if (!d) return;
    const n = d.count, G = zoomGeometry(n);
    z.geom = G;
    const cv = $('zoom-canvas');
    cv.width = G.cols * G.size + 2;
    cv.height = G.rows * G.size + 2;
    cv.style.width = `${cv.width / G.r}px`;
    cv.style.height = `${cv.height / G.r}px`;
    const ctx = cv.getContext('2d');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, cv.width, cv.height);
    const s = G.size;
    for (const b of d.blocks) {
      const lo = Math.max(b.pfn, d.start_pfn) - d.start_pfn, hi = Math.min(b.pfn + (1 << b.order), d.start_pfn + n) - d.start_pfn;
      const c = pageColor(b);
      ctx.fillStyle = rgb(c);
      for (let i = lo; i < hi; i++) ctx.fillRect(1 + (i % G.cols) * s, 1 + Math.floor(i / G.cols) * s, s - 1, s - 1);
      if (b.isolated) {
        ctx.strokeStyle = 'rgba(255,255,255,0.9)';
        ctx.lineWidth = Math.max(1, G.r);
        for (let i = lo; i < hi; i++) {
          const x = 1 + (i % G.cols) * s, y = 1 + Math.floor(i / G.cols) * s;
          ctx.beginPath(); ctx.moveTo(x, y + s - 1); ctx.lineTo(x + s - 1, y); ctx.stroke();
        }
      }
      // The block's outline: a run of one row, or whole rows.
      ctx.strokeStyle = '#1d2733';
      ctx.lineWidth = Math.max(1, Math.round(G.r));
      const r0 = Math.floor(lo / G.cols), r1 = Math.floor((hi - 1) / G.cols);
      const x0 = r0 === r1 ? lo % G.cols : 0, x1 = r0 === r1 ? (hi - 1) % G.cols : G.cols - 1;
      ctx.strokeRect(0.5 + x0 * s, 0.5 + r0 * s, (x1 - x0 + 1) * s, (r1 - r0 + 1) * s);
    }
    const lg = $('zoom-legend');
    if (!lg.childElementCount) {
      const items = [['anon', KIND_RGB.anon], ['file', KIND_RGB.file], ['pinned', KIND_RGB.pinned], ['slab', KIND_RGB.slab],
        ['kernel', KIND_RGB.kernel], ['free (tint: its free list)', shade(2, 0, false)], ['per-CPU free', [127, 214, 208]],
        ['isolated free', [170, 235, 195]]];
      for (const [label, c] of items) {
        const it = el('span', 'item');
        const sw = document.createElement('canvas');
        sw.width = 12; sw.height = 12;
        const x = sw.getContext('2d');
        x.fillStyle = rgb(c); x.fillRect(0, 0, 12, 12);
        it.append(sw, document.createTextNode(label));
        lg.append(it);
      }
      lg.append(el('span', 'item', 'outline: one buddy block or allocation · stripe: isolated'));
    }
  }

  function onZoomMove(ev) {
    const z = S.zoom;
    if (!z || !z.data || !z.geom) return;
    const G = z.geom, rect = $('zoom-canvas').getBoundingClientRect();
    const col = Math.floor(((ev.clientX - rect.left) * G.r - 1) / G.size), row = Math.floor(((ev.clientY - rect.top) * G.r - 1) / G.size);
    if (col < 0 || col >= G.cols || row < 0) return;
    const i = row * G.cols + col;
    if (i >= z.data.count) return;
    const pfn = z.data.start_pfn + i;
    const b = z.data.blocks.find((x) => pfn >= x.pfn && pfn < x.pfn + (1 << x.order));
    if (!b) return;
    let t = `pfn ${hex(pfn)} · in the order-${b.order} block at ${hex(b.pfn)} · ${b.state}`;
    if (b.kind) t += ` ${b.kind}`;
    t += ` · ${b.migratetype}`;
    if (b.isolated) t += ' · isolated';
    if (b.dirty) t += ' · dirty';
    if (b.active) t += ' · active';
    if (b.mlocked) t += ' · mlocked';
    $('zoom-info').textContent = t;
  }

  // ---------- Charts ----------

  function chartCanvas(container, key, w, h) {
    let box = container.querySelector(`[data-key="${key}"]`);
    if (!box) {
      box = el('div', 'chart-box');
      box.dataset.key = key;
      box.append(document.createElement('canvas'));
      container.append(box);
    }
    const cv = box.firstChild, r = dpr();
    if (cv.width !== w * r || cv.height !== h * r) {
      cv.width = w * r; cv.height = h * r;
      cv.style.width = `${w}px`; cv.style.height = `${h}px`;
    }
    const ctx = cv.getContext('2d');
    ctx.setTransform(r, 0, 0, r, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
    return ctx;
  }

  function zonesOf(stats) {
    const out = [];
    for (const n of stats.nodes) for (const z of n.zones) out.push({ node: n.id, ...z });
    return out;
  }

  function drawBuddy(stats) {
    const box = $('buddy-charts');
    const zones = zonesOf(stats);
    for (const c of [...box.children]) if (!zones.some((z) => `${z.node}-${z.name}` === c.dataset.key)) c.remove();
    const W = 284, H = 160, left = 30, bottom = 18, top = 16;
    for (const z of zones) {
      const ctx = chartCanvas(box, `${z.node}-${z.name}`, W, H);
      const orders = stats.nr_orders;
      const totals = z.free_blocks;
      const maxLog = Math.max(1, Math.ceil(Math.log10(1 + Math.max(...totals))));
      const ph = H - bottom - top, bw = (W - left - 6) / orders;
      ctx.fillStyle = '#1d2733';
      ctx.textBaseline = 'top';
      ctx.fillText(`Node ${z.node} ${z.name}: free blocks by order`, left, 1);
      ctx.strokeStyle = '#e3e8ee';
      ctx.fillStyle = '#6b7785';
      ctx.textBaseline = 'middle';
      for (let k = 0; k <= maxLog; k++) {
        const y = top + ph - (k / maxLog) * ph;
        ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(W - 4, y); ctx.stroke();
        ctx.textAlign = 'right';
        ctx.fillText(k === 0 ? '0' : k < 3 ? String(10 ** k) : `${10 ** (k - 3)}k`, left - 3, y);
      }
      ctx.textAlign = 'center';
      for (let o = 0; o < orders; o++) {
        const total = totals[o];
        const x = left + o * bw + 1;
        ctx.fillStyle = '#6b7785';
        ctx.fillText(String(o), x + bw / 2 - 1, H - bottom / 2);
        if (!total) continue;
        const hTot = (Math.log10(1 + total) / maxLog) * ph;
        let y = top + ph;
        for (let mt = 0; mt < 5; mt++) {
          const n = (z.free_blocks_by_migratetype[MT_NAMES[mt]] || [])[o] || 0;
          if (!n) continue;
          const hh = hTot * n / total;
          ctx.fillStyle = rgb(MT_RGB[mt]);
          ctx.fillRect(x, y - hh, bw - 2, hh);
          y -= hh;
        }
      }
      ctx.textAlign = 'left';
    }
  }

  function drawIndices(stats) {
    const box = $('index-charts');
    const zones = zonesOf(stats);
    for (const c of [...box.children]) if (!zones.some((z) => `${z.node}-${z.name}` === c.dataset.key)) c.remove();
    const W = 284, H = 160, left = 30, bottom = 18, top = 16;
    for (const z of zones) {
      const ctx = chartCanvas(box, `${z.node}-${z.name}`, W, H);
      const orders = stats.nr_orders, ph = H - bottom - top - 10, pw = W - left - 10;
      const X = (o) => left + 5 + (o / Math.max(1, orders - 1)) * pw, Y = (v) => top + ph - v * ph;
      ctx.fillStyle = '#1d2733';
      ctx.textBaseline = 'top';
      ctx.fillText(`Node ${z.node} ${z.name}`, left, 1);
      ctx.textAlign = 'right';
      ctx.fillStyle = '#d9822b'; ctx.fillText('— fragmentation', W - 4, 1);
      const fw = ctx.measureText('— fragmentation').width;
      ctx.fillStyle = '#555f6b'; ctx.fillText('— unusable', W - 10 - fw, 1);
      ctx.textAlign = 'left';
      ctx.strokeStyle = '#e3e8ee';
      ctx.fillStyle = '#6b7785';
      ctx.textBaseline = 'middle';
      ctx.textAlign = 'right';
      for (const v of [0, 0.5, 1]) {
        ctx.beginPath(); ctx.moveTo(left, Y(v)); ctx.lineTo(W - 4, Y(v)); ctx.stroke();
        ctx.fillText(v.toFixed(1), left - 3, Y(v));
      }
      ctx.textAlign = 'center';
      for (let o = 0; o < orders; o++) ctx.fillText(String(o), X(o), H - bottom / 2 + 2);
      const line = (vals, color) => {
        ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1.8;
        ctx.beginPath();
        let pen = false;
        vals.forEach((v, o) => {
          if (v < 0) { pen = false; return; }
          if (pen) ctx.lineTo(X(o), Y(v)); else ctx.moveTo(X(o), Y(v));
          pen = true;
        });
        ctx.stroke();
        vals.forEach((v, o) => {
          ctx.beginPath();
          if (v < 0) { ctx.strokeStyle = '#b5bec8'; ctx.arc(X(o), top + ph + 7, 2.5, 0, 7); ctx.stroke(); ctx.strokeStyle = color; } else { ctx.arc(X(o), Y(v), 2.2, 0, 7); ctx.fill(); }
        });
      };
      line(z.unusable_index, '#555f6b');
      line(z.fragmentation_index, '#d9822b');
      ctx.lineWidth = 1;
      ctx.textAlign = 'left';
    }
  }

  function drawSeries() {
    const box = $('series');
    const hist = S.history;
    const W = 290, H = 74;
    for (const [key, label] of SERIES) {
      const ctx = chartCanvas(box, key, W, H);
      const vals = hist.map((h) => h.v[key]);
      const last = vals.length ? vals[vals.length - 1] : 0;
      let rate = 0;
      if (hist.length >= 2) {
        const a = hist[Math.max(0, hist.length - 5)], b = hist[hist.length - 1];
        if (b.t > a.t) rate = (b.v[key] - a.v[key]) / ((b.t - a.t) / 1000);
      }
      ctx.fillStyle = '#1d2733';
      ctx.textBaseline = 'top';
      ctx.fillText(label, 6, 3);
      ctx.textAlign = 'right';
      ctx.font = 'bold 12px system-ui, "DejaVu Sans", sans-serif';
      ctx.fillText(fmtInt(last), W - 6, 2);
      ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
      ctx.fillStyle = '#6b7785';
      ctx.fillText(rate > 0 ? `+${fmtInt(rate)}/s` : '', W - 6, 17);
      ctx.textAlign = 'left';
      if (vals.length < 2) continue;
      const min = Math.min(...vals), max = Math.max(...vals);
      const top = 32, ph = H - top - 5, n = HISTORY;
      ctx.strokeStyle = '#2e75b6';
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      vals.forEach((v, i) => {
        const x = 6 + ((n - vals.length + i) / (n - 1)) * (W - 12);
        const y = top + ph - (max > min ? ((v - min) / (max - min)) * ph : 0);
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      ctx.stroke();
      ctx.lineWidth = 1;
    }
  }

  function scheduleCharts() {
    if (S.chartsPending) return;
    S.chartsPending = true;
    requestAnimationFrame(() => {
      S.chartsPending = false;
      if (!S.stats) return;
      drawBuddy(S.stats);
      drawIndices(S.stats);
      drawSeries();
    });
  }

  // ---------- Machines ----------

  function worstFrag(m) {
    let w = null;
    for (const z of m.zones) if (w === null || z.fragmentation_index > w) w = z.fragmentation_index;
    return w;
  }

  function renderMachines() {
    const tbody = $('machines').tBodies[0];
    const names = new Set(S.machines.map((m) => m.name));
    for (const tr of [...tbody.rows]) if (!names.has(tr.dataset.name)) tr.remove();
    S.machines.forEach((m, i) => {
      let tr = [...tbody.rows].find((r) => r.dataset.name === m.name);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.name = m.name;
        for (const c of ['name', '', '', 'num', 'num', 'num', 'num']) tr.append(el('td', c));
        tr.addEventListener('click', () => select(m.name));
      }
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
      const f = worstFrag(m);
      const cells = [m.name, m.compaction ? '2.6.35' : '2.6.34 (no compaction)', `${m.preset}, ${m.nodes} node${m.nodes > 1 ? 's' : ''}`,
        fmtBytes(m.memory_mib * 1048576), `${fmtBytes(m.free_pages * m.page_size)} (${Math.round(100 * m.free_pages / m.total_pages)} %)`,
        f === null ? '—' : f.toFixed(3), fmtInt(m.live_allocations)];
      cells.forEach((t, k) => { if (tr.cells[k].textContent !== t) tr.cells[k].textContent = t; });
      tr.cells[5].title = m.zones.map((z) => `node ${z.node} ${z.name}: ${z.fragmentation_index.toFixed(3)}`).join('\n');
      tr.classList.toggle('selected', m.name === S.selected);
    });
    $('machines-empty').classList.toggle('hidden', S.machines.length > 0);
  }

  async function refreshMachines() {
    try {
      const d = await getJSON('/v1/machines');
      S.machines = d.machines;
      setConn(true);
      renderMachines();
      if (S.selected && !S.machines.some((m) => m.name === S.selected)) deselect('machine deleted');
      if (!S.selected && S.machines.length) {
        // The machine named in the URL's fragment (/#name), else the first.
        const want = decodeURIComponent(location.hash.slice(1));
        select((S.machines.find((m) => m.name === want) || S.machines[0]).name);
      }
      const cur = S.machines.find((m) => m.name === S.selected);
      if (cur) S.info = cur;
    } catch (e) {
      setConn(false, 'server unreachable');
    }
  }

  function setConn(ok, text) {
    const c = $('conn');
    c.className = 'conn ' + (ok ? 'on' : 'off');
    c.textContent = ok ? (S.streamOpen ? 'live' : 'connected') : (text || 'offline');
  }

  function setStatus(text, error) {
    const s = $('action-status');
    s.textContent = text;
    s.classList.toggle('error', !!error);
  }

  function closeStream() {
    if (S.stream) { S.stream.close(); S.stream = null; }
    S.streamOpen = false;
  }

  function deselect(why) {
    closeStream();
    S.selected = null; S.map = null; S.stats = null; S.zoom = null; S.history = [];
    $('machine-card').classList.add('hidden');
    if (why) setStatus(why);
    renderMachines();
  }

  async function select(name) {
    if (S.selected === name) return;
    closeStream();
    S.selected = name;
    if (decodeURIComponent(location.hash.slice(1)) !== name) history.replaceState(null, '', '#' + encodeURIComponent(name));
    S.map = null; S.stats = null; S.history = []; S.zoom = null; S.scanQueue = []; S.scanCurrent = null; S.job = null;
    for (const id of ['buddy-charts', 'index-charts', 'series']) $(id).textContent = '';
    $('zoom').classList.add('hidden');
    $('machine-card').classList.remove('hidden');
    $('machine-title').textContent = name;
    setStatus('');
    renderMachines();
    const m = S.machines.find((x) => x.name === name);
    S.info = m || null;
    if (m) {
      $('machine-meta').textContent = `${m.preset} · ${fmtBytes(m.memory_mib * 1048576)} · ${m.nodes} node${m.nodes > 1 ? 's' : ''} · ` +
        `${m.compaction ? 'Linux 2.6.35' : 'Linux 2.6.34, no compaction'} · seed ${m.seed}`;
      const sel = $('compact-node-select');
      sel.textContent = '';
      for (let i = 0; i < m.nodes; i++) sel.append(new Option(`node ${i}`, String(i)));
      for (const b of ['compact-machine', 'compact-node']) $(b).disabled = !m.compaction;
    }
    await loadMap();
    if (S.selected === name) openStream();
  }

  async function loadMap() {
    const name = S.selected;
    const r = await api('GET', `/v1/machines/${encodeURIComponent(name)}/pageblocks`);
    if (S.selected !== name) return;
    if (!r.ok) { setStatus(await problemText(r), true); return; }
    const map = decodePageblocks(await r.arrayBuffer());
    if (S.selected !== name) return;
    if (!S.map || map.generation >= S.map.generation) S.map = map;
    scheduleDraw();
  }

  function openStream() {
    const name = S.selected;
    const since = S.map ? `&pageblocks_since=${S.map.generation}` : '';
    const url = `/v1/machines/${encodeURIComponent(name)}/stats/stream?interval_ms=250&events=compaction,scanners,pageblocks,jobs${since}`;
    const es = openEvents(url, {
      open: () => { if (S.stream === es) { S.streamOpen = true; setConn(true); } },
      error: () => { if (S.stream === es) { S.streamOpen = false; setConn(true); } },
      // The server refused the stream (the machine is gone, or the map is from another life of it):
      // start afresh from the machine list and a new map.
      refused: () => {
        if (S.stream !== es) return;
        S.stream = null;
        S.streamOpen = false;
        setTimeout(async () => {
          await refreshMachines();
          if (S.selected === name && !S.stream) {
            await loadMap();
            if (S.selected === name && !S.stream) openStream();
          }
        }, 2000);
      },
      stats: (d) => onStats(JSON.parse(d)),
      pageblocks: (d) => onPageblocks(JSON.parse(d)),
      compaction_scanners: (d) => queueScanners(JSON.parse(d)),
      mm_compaction_begin: (d) => queueScanners(JSON.parse(d)),
      mm_compaction_end: (d) => queueScanners({ ...JSON.parse(d), end: true }),
      job_progress: (d) => onJob(JSON.parse(d)),
      end: (d) => {
        es.close();
        if (S.stream !== es) return;
        S.stream = null;
        S.streamOpen = false;
        const why = JSON.parse(d).reason;
        if (why === 'machine_deleted') { deselect(`${name} was deleted`); refreshMachines(); } else setConn(false, 'server stopping');
      },
    });
    S.stream = es;
  }

  // The counter chart's values from a stats event's vmstat (per-zone items summed where a kernel
  // names them per zone).
  function counterValues(vmstat) {
    const v = {};
    for (const [key, , f] of SERIES) v[key] = f ? f(vmstat) : (vmstat[key] || 0);
    return v;
  }

  function onStats(st) {
    if (st.name !== S.selected) return;
    S.statsEvents++;
    S.stats = st;
    S.history.push({ t: performance.now(), v: counterValues(st.vmstat) });
    if (S.history.length > HISTORY) S.history.shift();
    scheduleCharts();
  }

  function onPageblocks(d) {
    if (!S.map) return;
    if (d.reset) { loadMap(); return; }
    if (d.generation <= S.map.generation) return;
    for (const row of d.blocks) {
      S.map.flags[row[0]] = row[1];
      for (let k = 0; k < NF; k++) S.map.counts[row[0] * NF + k] = row[2 + k];
    }
    S.map.generation = d.generation;
    S.deltasApplied++;
    scheduleDraw();
    const z = S.zoom;
    if (z && d.blocks.some((row) => row[0] === z.block) && performance.now() - z.fetchedAt > 400) refreshZoom();
  }

  function onJob(j) {
    if (!S.job || S.job.id !== j.id) return;
    S.job.state = j.state;
    if (j.state === 'running') setStatus(`workload ${S.job.preset}: step ${j.step} of ${j.steps} (${j.percent} %)`);
    else {
      setStatus(`workload ${S.job.preset}: ${j.state}`, j.state === 'failed');
      S.job = null;
      $('run-workload').disabled = false;
    }
  }

  // ---------- Actions ----------

  async function compact(node) {
    const name = S.selected;
    if (!name || S.busy) return;
    S.busy = true;
    for (const b of ['compact-machine', 'compact-node']) $(b).disabled = true;
    setStatus(node === null ? 'compacting the machine…' : `compacting node ${node}…`);
    try {
      const r = await change('POST', node === null ? `/v1/machines/${encodeURIComponent(name)}/compact`
        : `/v1/machines/${encodeURIComponent(name)}/nodes/${node}/compact`);
      if (!r.ok) { setStatus(await problemText(r), true); return; }
      const rep = await r.json();
      // The report waits for the scanners' last positions to be drawn (at most 3 s).
      const until = performance.now() + 3000;
      while (performance.now() < until && (S.scanQueue.length || (S.scanCurrent && !S.scanCurrent.end))) {
        await new Promise((res) => setTimeout(res, 50));
      }
      const moved = rep.vmstat_delta.compact_pages_moved;
      const zones = rep.zones.map((z) => `${z.zone} ${z.result.replace('COMPACT_', '').toLowerCase()}`).join(', ');
      setStatus(`compacted: ${fmtInt(moved)} pages migrated (${zones}), ${rep.simulated_ms.toFixed(1)} ms simulated`);
    } catch (e) {
      setStatus(String(e.message || e), true);
    } finally {
      S.busy = false;
      const m = S.machines.find((x) => x.name === S.selected);
      for (const b of ['compact-machine', 'compact-node']) $(b).disabled = !(m && m.compaction);
    }
  }

  async function runWorkload() {
    const name = S.selected, preset = $('workload-select').value;
    if (!name || !preset) return;
    $('run-workload').disabled = true;
    try {
      const r = await change('POST', `/v1/machines/${encodeURIComponent(name)}/workloads`, { preset });
      if (!r.ok) { setStatus(await problemText(r), true); $('run-workload').disabled = false; return; }
      const job = await r.json();
      S.job = { id: job.id, preset, state: job.state };
      setStatus(`workload ${preset}: queued (job ${job.id})`);
    } catch (e) {
      setStatus(String(e.message || e), true);
      $('run-workload').disabled = false;
    }
  }

  let deleteArmed = null;
  async function deleteMachine() {
    const name = S.selected, b = $('delete-machine');
    if (!name) return;
    if (!deleteArmed) {
      b.classList.add('armed');
      b.textContent = `Delete ${name}?`;
      deleteArmed = setTimeout(() => { deleteArmed = null; b.classList.remove('armed'); b.textContent = 'Delete'; }, 4000);
      return;
    }
    clearTimeout(deleteArmed);
    deleteArmed = null;
    b.classList.remove('armed');
    b.textContent = 'Delete';
    try {
      const r = await change('DELETE', `/v1/machines/${encodeURIComponent(name)}`);
      if (!r.ok && r.status !== 404) { setStatus(await problemText(r), true); return; }
      if (S.selected === name) deselect(`${name} deleted`);
      await refreshMachines();
    } catch (e) {
      setStatus(String(e.message || e), true);
    }
  }

  // ---------- Start ----------

  async function start() {
    S.cellRect = cellRect;
    S.blockAt = blockAt;
    S.drawMap = drawMap;
    S.counterValues = counterValues;
    drawLegend();
    $('map').addEventListener('mousemove', onMapMove);
    $('map').addEventListener('mouseleave', onMapLeave);
    $('map').addEventListener('click', onMapClick);
    $('zoom-canvas').addEventListener('mousemove', onZoomMove);
    $('zoom-close').addEventListener('click', () => { S.zoom = null; $('zoom').classList.add('hidden'); });
    $('compact-machine').addEventListener('click', () => compact(null));
    $('compact-node').addEventListener('click', () => compact(Number($('compact-node-select').value)));
    $('run-workload').addEventListener('click', runWorkload);
    $('delete-machine').addEventListener('click', deleteMachine);
    $('token-button').addEventListener('click', async () => {
      const t = await askToken();
      if (t) { S.token = t; storeToken(t); }
    });
    // A hidden tab lets go of its stream after 10 s (a browser holds only six connections to a host,
    // so many open tabs would otherwise starve each other) and catches up when shown again.
    let hiddenTimer = null;
    document.addEventListener('visibilitychange', () => {
      clearTimeout(hiddenTimer);
      if (document.hidden) {
        hiddenTimer = setTimeout(() => { if (document.hidden) closeStream(); }, 10000);
      } else if (S.selected && !S.stream) {
        const name = S.selected;
        loadMap().then(() => { if (S.selected === name && !S.stream && !document.hidden) openStream(); });
      }
    });
    window.addEventListener('hashchange', () => {
      const want = decodeURIComponent(location.hash.slice(1));
      if (want && want !== S.selected && S.machines.some((m) => m.name === want)) select(want);
    });
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { scheduleDraw(); if (S.zoom) drawZoom(); }, 100);
    });
    S.token = storedToken();
    // Which requests need the token: /readyz says so, or answers 401 itself when reads need one too.
    try {
      let r = await fetch('/readyz', { cache: 'no-store', headers: S.token ? { Authorization: 'Bearer ' + S.token } : {} });
      if (r.status === 401) {
        S.auth = 'all';
        S.token = null;
        r = await api('GET', '/readyz');
      }
      if (r.ok) S.auth = (await r.json()).auth || S.auth;
    } catch (e) { /* the machine list says whether the server answers */ }
    $('token-button').classList.toggle('hidden', S.auth === 'none');
    try {
      const p = await getJSON('/v1/workload-presets');
      S.presets = p.presets.map((x) => x.name);
      const sel = $('workload-select');
      for (const x of p.presets) { const o = new Option(x.name, x.name); o.title = x.summary; sel.append(o); }
    } catch (e) { /* the button stays without choices */ }
    await refreshMachines();
    setInterval(refreshMachines, 2000);
    requestAnimationFrame(animate);
  }

  start();
})();
