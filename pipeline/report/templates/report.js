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
