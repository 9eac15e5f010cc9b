"""The small web view at ``/``: a namespace's jobs and streams with live status, and each
job's diagram and summary. Plain HTML and a little JavaScript, no build step.

The page holds the caller's bearer token in memory only and sends it on every request
(``fetch``, including the event streams, which it reads as text because ``EventSource``
cannot send headers). Everything it shows goes through ``textContent``, never parsed as HTML.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

# Only this origin's scripts; pictures from here or from blobs the script made.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>TDA Platform</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
  header { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  table { border-collapse: collapse; margin: 1rem 0; min-width: 40rem; }
  th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
  .phase-Succeeded { color: #176f2c; } .phase-Failed { color: #b00020; } .phase-Running { color: #0b57d0; }
  #detail img { max-width: 100%; border: 1px solid #ddd; }
  #error { color: #b00020; }
</style>
</head>
<body>
<header>
  <strong>TDA Platform</strong>
  <label>Namespace <input id="namespace" value="default" size="20"></label>
  <label>Bearer token <input id="token" type="password" size="40" autocomplete="off"></label>
  <button id="load">Show</button>
  <span id="error" role="alert"></span>
</header>
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>Name</th><th>Phase</th><th>Progress</th><th>Reason</th></tr></thead><tbody></tbody></table>
<h2>Streams</h2>
<table id="streams"><thead><tr><th>Name</th><th>Phase</th><th>Reason</th></tr></thead><tbody></tbody></table>
<section id="detail"></section>
<script src="app.js"></script>
</body>
</html>
"""

APP_JS = r"""'use strict';
const $ = (id) => document.getElementById(id);
let token = '';
let namespace = '';
let live = [];  // AbortControllers of the open event streams

function authorized(path, options = {}) {
  return fetch(path, {...options, headers: {...(options.headers || {}), Authorization: 'Bearer ' + token}});
}

async function problemText(response) {
  try { const p = await response.json(); return p.detail || p.title; } catch (e) { return 'HTTP ' + response.status; }
}

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function progressText(p) { return p ? `${p.succeeded || 0}/${p.total || 0}` + (p.failed ? ` (${p.failed} failed)` : '') : ''; }

function showRow(tbody, kind, obj) {
  const name = obj.metadata.name;
  let row = tbody.querySelector(`tr[data-name="${CSS.escape(name)}"]`);
  if (!row) {
    row = document.createElement('tr');
    row.dataset.name = name;
    tbody.appendChild(row);
  }
  row.replaceChildren();
  const status = obj.status || {};
  const link = document.createElement('a');
  link.href = '#';
  link.textContent = name;
  link.addEventListener('click', (e) => { e.preventDefault(); kind === 'jobs' ? showJob(name) : showStream(name); });
  cell(row, '').appendChild(link);
  cell(row, status.phase, 'phase-' + (status.phase || 'none'));
  if (kind === 'jobs') cell(row, progressText(status.progress));
  cell(row, status.reason);
}

async function follow(kind, name, tbody) {
  // Server-Sent Events read through fetch, so the token goes in a header, not the URL.
  const controller = new AbortController();
  live.push(controller);
  try {
    const response = await authorized(`/v1/namespaces/${encodeURIComponent(namespace)}/${kind}/${encodeURIComponent(name)}/events`,
                                      {signal: controller.signal});
    if (!response.ok) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (block.startsWith('event: status') && data) {
          const event = JSON.parse(data);
          showRow(tbody, kind, {metadata: {name}, status: {phase: event.phase, reason: event.reason, progress: event.progress}});
        }
      }
    }
  } catch (e) { /* aborted or network gone: the table keeps the last state */ }
}

async function list(kind) {
  const tbody = $(kind).querySelector('tbody');
  tbody.replaceChildren();
  const response = await authorized(`/v1/namespaces/${encodeURIComponent(namespace)}/${kind}`);
  if (!response.ok) { $('error').textContent = `${kind}: ` + await problemText(response); return; }
  const items = (await response.json()).items;
  for (const obj of items) {
    showRow(tbody, kind, obj);
    follow(kind, obj.metadata.name, tbody);
  }
}

async function showJob(name) {
  const detail = $('detail');
  detail.replaceChildren();
  const title = document.createElement('h2');
  title.textContent = 'Job ' + name;
  detail.appendChild(title);
  const base = `/v1/namespaces/${encodeURIComponent(namespace)}/jobs/${encodeURIComponent(name)}`;
  const job = await authorized(base);
  if (job.ok) {
    const summary = document.createElement('pre');
    summary.textContent = JSON.stringify((await job.json()).status?.summary || {}, null, 1);
    detail.appendChild(summary);
  }
  const picture = await authorized(base + '/diagram.svg');
  if (picture.ok) {
    const img = document.createElement('img');
    img.alt = 'persistence diagram and barcode of ' + name;
    img.src = URL.createObjectURL(await picture.blob());
    detail.appendChild(img);
  } else {
    const note = document.createElement('p');
    note.textContent = await problemText(picture);
    detail.appendChild(note);
  }
}

async function showStream(name) {
  const detail = $('detail');
  detail.replaceChildren();
  const title = document.createElement('h2');
  title.textContent = 'Stream ' + name;
  const latest = await authorized(`/v1/namespaces/${encodeURIComponent(namespace)}/streams/${encodeURIComponent(name)}/latest`);
  const body = document.createElement('pre');
  body.textContent = latest.ok ? JSON.stringify((await latest.json()).keys, null, 1) : await problemText(latest);
  detail.append(title, body);
}

async function load() {
  live.forEach((c) => c.abort());
  live = [];
  $('error').textContent = '';
  token = $('token').value.trim();
  namespace = $('namespace').value.trim();
  await Promise.all([list('jobs'), list('streams')]);
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get('job')) showJob(params.get('job'));
}

$('load').addEventListener('click', load);
// A link may carry the namespace and a job to open (never the token): #namespace=a&job=b
const initial = new URLSearchParams(location.hash.slice(1));
if (initial.get('namespace')) $('namespace').value = initial.get('namespace');
"""


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    return HTMLResponse(INDEX_HTML, headers=SECURITY_HEADERS)


@router.get("/app.js")
async def app_js() -> Response:
    return Response(APP_JS, media_type="text/javascript", headers=SECURITY_HEADERS)
