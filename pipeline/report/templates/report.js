// Shows the fused second under the pointer: the data is embedded in the page, nothing is fetched.
(function () {
  var svg = document.getElementById('timeline');
  var info = document.getElementById('second-info');
  var data = JSON.parse(document.getElementById('timeline-data').textContent);
  if (!svg || !info || !data.length) { return; }
  var cursor = document.getElementById('cursor');
  var x0 = parseFloat(svg.dataset.x0), width = parseFloat(svg.dataset.plotWidth), duration = parseFloat(svg.dataset.duration);
  function list(v) {
    if (v === null || v === undefined) { return null; }
    if (Array.isArray(v)) { return v.length ? v.join(', ') : 'none'; }
    if (typeof v === 'object') { var k = Object.keys(v); return k.length ? k.map(function (c) { return c + ' x' + v[c]; }).join(', ') : 'none'; }
    return String(v);
  }
  function describe(s) {
    var parts = [['shot', list(s.shots)], ['camera', list(s.camera)], ['objects', list(s.objects)], ['people', list(s.people)],
      ['faces', list(s.faces)], ['shown', list(s.descriptions)], ['said', list(s.words)], ['speech', s.speech === null ? null : Math.round(s.speech * 100) + '%'],
      ['text', list(s.text)], ['sounds', list(s.sounds)], ['audio', list(s.audio)],
      ['dBFS', s.loudness_dbfs === null ? null : s.loudness_dbfs.toFixed(1)], ['pace', s.pace === null ? null : s.pace.toFixed(2)]];
    var shown = parts.filter(function (p) { return p[1] !== null; }).map(function (p) { return '<b>' + p[0] + '</b> ' + escapeHtml(p[1]); });
    return '<b>' + (+s.start.toFixed(2)) + '-' + (+s.end.toFixed(2)) + ' s</b> &middot; ' + shown.join(' &middot; ');
  }
  function escapeHtml(t) { return t.replace(/[&<>"]/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; }); }
  svg.addEventListener('mousemove', function (event) {
    var box = svg.getBoundingClientRect();
    var x = (event.clientX - box.left) * svg.viewBox.baseVal.width / box.width;
    var t = (x - x0) / width * duration;
    if (t < 0 || t > duration) { cursor.setAttribute('visibility', 'hidden'); return; }
    cursor.setAttribute('x1', x); cursor.setAttribute('x2', x); cursor.setAttribute('visibility', 'visible');
    var second = data.filter(function (s) { return t >= s.start && t <= s.end; })[0];
    if (second) { info.innerHTML = describe(second); }
  });
  svg.addEventListener('mouseleave', function () { cursor.setAttribute('visibility', 'hidden'); });
  info.innerHTML = describe(data[0]);
})();

// The player: a click on any block, keyframe or word seeks it there (a click on the timeline's
// empty plot, to that time); while it plays a playhead crosses the timeline, the current word of
// the transcript and the current shot's keyframe are marked.
(function () {
  var player = document.getElementById('player');
  var svg = document.getElementById('timeline');
  if (!player || !svg) { return; }
  var playhead = document.getElementById('playhead');
  var transcript = document.getElementById('transcript');
  var x0 = parseFloat(svg.dataset.x0), width = parseFloat(svg.dataset.plotWidth), duration = parseFloat(svg.dataset.duration);
  function spans(selector, end) {
    return Array.prototype.map.call(document.querySelectorAll(selector), function (el, i, all) {
      var next = all[i + 1];
      return {el: el, start: parseFloat(el.dataset.start), end: end(el, next)};
    });
  }
  var words = spans('#transcript .word', function (el) { return parseFloat(el.dataset.end); });
  var cards = spans('.shot-card', function (el, next) { return next ? parseFloat(next.dataset.start) : Infinity; });
  var marked = {};
  function mark(kind, list, t) {
    var now = list.filter(function (s) { return t >= s.start && t < s.end; })[0];
    var was = marked[kind];
    if (was === now) { return now; }
    if (was) { was.el.classList.remove('now'); }
    if (now) { now.el.classList.add('now'); }
    marked[kind] = now;
    return now;
  }
  function show() {
    var t = player.currentTime;
    var x = x0 + Math.min(Math.max(t, 0), duration) / duration * width;
    playhead.setAttribute('x1', x); playhead.setAttribute('x2', x); playhead.setAttribute('visibility', 'visible');
    var word = mark('word', words, t);
    mark('shot', cards, t);
    if (word && (word.el.offsetTop < transcript.scrollTop || word.el.offsetTop > transcript.scrollTop + transcript.clientHeight - 20)) {
      transcript.scrollTop = word.el.offsetTop - 20;
    }
  }
  function seek(t) {
    player.currentTime = Math.min(Math.max(t, 0), duration);
    show();
  }
  function follow() {
    show();
    if (!player.paused && !player.ended) { window.requestAnimationFrame(follow); }
  }
  document.addEventListener('click', function (event) {
    var target = event.target.closest('[data-start]');
    if (target) { seek(parseFloat(target.dataset.start)); return; }
    if (!svg.contains(event.target)) { return; }
    var box = svg.getBoundingClientRect();
    var t = ((event.clientX - box.left) * svg.viewBox.baseVal.width / box.width - x0) / width * duration;
    if (t >= 0 && t <= duration) { seek(t); }
  });
  player.addEventListener('play', follow);
  player.addEventListener('timeupdate', show);
  player.addEventListener('seeked', show);
})();
