// Listening player (admin/templates/_player.html): the waveform is a seek bar with the
// progress drawn over it, -10 s/+10 s, playback speed, and keys (space plays or pauses,
// left/right jump 10 s) unless the focus is in a form field. In the listening room, note
// times jump the player and the note form takes the player's current moment.
// External file because the CSP forbids inline script. The audio keeps preload="none":
// nothing is fetched (and so no play is audited) before the listener starts it.
(function () {
  "use strict";
  var SKIP = 10;
  var players = [];
  var current = null;

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var ss = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  function makePlayer(figure) {
    var audio = figure.querySelector("audio");
    var seekBar = figure.querySelector(".waveform-seek");
    var progress = figure.querySelector(".waveform-progress");
    var controls = figure.querySelector(".player-controls");
    var timeText = figure.querySelector("[data-time]");
    var toggleButton = figure.querySelector("[data-toggle]");
    var speed = figure.querySelector("[data-speed]");
    var stated = Number(figure.getAttribute("data-duration")) || 0;
    var pending = null; // a moment asked for before the audio's metadata arrived
    var player = { figure: figure, audio: audio };

    function duration() {
      return isFinite(audio.duration) && audio.duration > 0 ? audio.duration : stated;
    }
    function now() {
      return pending !== null ? pending : audio.currentTime;
    }
    function render() {
      var total = duration();
      var at = now();
      var fraction = total ? Math.min(1, Math.max(0, at / total)) : 0;
      progress.style.width = (fraction * 100).toFixed(2) + "%";
      seekBar.setAttribute("aria-valuenow", String(Math.round(at)));
      seekBar.setAttribute("aria-valuetext", clock(at) + " / " + clock(total));
      timeText.textContent = clock(at) + " / " + clock(total);
      var playing = !audio.paused;
      toggleButton.textContent = playing ? "❚❚" : "▶";
      toggleButton.setAttribute(
        "aria-label", toggleButton.getAttribute(playing ? "data-pause-label" : "data-play-label")
      );
      document.dispatchEvent(new CustomEvent("player:time", { detail: { player: player, at: at } }));
    }
    function play() {
      current = player;
      var started = audio.play();
      if (started && started.catch) {
        started.catch(function () { /* refused (no gesture) or aborted: stays paused */ });
      }
    }
    function seek(seconds) {
      var total = duration();
      var target = Math.max(0, total ? Math.min(seconds, total) : seconds);
      current = player;
      if (audio.readyState >= 1) { // HAVE_METADATA: the element can seek itself
        pending = null;
        audio.currentTime = target;
      } else {
        // Nothing loaded yet (preload="none"): the element keeps this as its start
        // position; loadedmetadata applies it again for engines that do not.
        pending = target;
        audio.currentTime = target;
      }
      render();
    }
    player.seek = seek;
    player.play = play;
    player.now = now;
    player.stated = stated; // the stored length: the server's bound for a note's moment
    player.skip = function (delta) { seek(now() + delta); };
    player.toggle = function () {
      if (audio.paused) { play(); } else { audio.pause(); }
    };

    audio.addEventListener("loadedmetadata", function () {
      if (pending !== null) {
        var target = pending;
        pending = null;
        audio.currentTime = target;
      }
      render();
    });
    ["timeupdate", "seeking", "seeked", "play", "pause", "durationchange", "ended"].forEach(
      function (name) { audio.addEventListener(name, render); }
    );
    audio.addEventListener("play", function () {
      current = player;
      players.forEach(function (other) { if (other !== player) { other.audio.pause(); } });
    });
    audio.addEventListener("ratechange", function () {
      speed.value = String(audio.playbackRate);
    });
    seekBar.addEventListener("click", function (event) {
      var box = seekBar.getBoundingClientRect();
      if (!box.width) { return; }
      var fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      seek(fraction * duration());
      if (audio.paused) { play(); }
    });
    controls.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) { return; }
      if (button.hasAttribute("data-skip")) {
        player.skip(Number(button.getAttribute("data-skip")));
      } else if (button.hasAttribute("data-toggle")) {
        player.toggle();
      }
    });
    speed.addEventListener("change", function () {
      var rate = Number(speed.value) || 1;
      audio.defaultPlaybackRate = rate; // kept when the element (re)loads
      audio.playbackRate = rate;
    });
    figure.addEventListener("focusin", function () { current = player; });
    figure.addEventListener("pointerdown", function () { current = player; });
    controls.hidden = false;
    render();
    return player;
  }

  // Keys go to the player last used (else the first on the page). Form fields keep their
  // keys; on buttons and links space keeps its own meaning (press the button).
  function isField(element) {
    if (!element || !element.tagName) { return false; }
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }
  function pressable(element) {
    return !!(element && element.closest && element.closest("button, a[href], summary"));
  }
  document.addEventListener("keydown", function (event) {
    var player = current || players[0];
    if (!player || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    if (isField(event.target)) { return; }
    if (event.key === " " || event.key === "Spacebar") {
      if (pressable(event.target)) { return; }
      event.preventDefault();
      player.toggle();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      player.skip(event.key === "ArrowLeft" ? -SKIP : SKIP);
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-player]"), function (figure) {
    players.push(makePlayer(figure));
  });
  if (!players.length) { return; }

  // Listening room: a note's time jumps the player there and plays from it.
  Array.prototype.forEach.call(document.querySelectorAll("[data-seek-ms]"), function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var player = players[0];
      player.seek(Number(link.getAttribute("data-seek-ms")) / 1000);
      if (player.audio.paused) { player.play(); }
    });
  });

  // The note form takes the player's moment unless a moment was typed.
  var form = document.querySelector("[data-note-form]");
  if (form) {
    var typed = form.querySelector("input[name=at]");
    var moment = form.querySelector("input[name=position_ms]");
    document.addEventListener("player:time", function (event) {
      if (event.detail.player === players[0]) { typed.placeholder = clock(event.detail.at); }
    });
    typed.placeholder = clock(players[0].now());
    form.addEventListener("submit", function () {
      // The decoder's length may run a few ms past the stored one: clamp to the latter.
      var at = Math.min(players[0].now(), players[0].stated || Infinity);
      moment.value = typed.value.trim() ? "" : String(Math.floor(at * 1000));
    });
  }
}());
