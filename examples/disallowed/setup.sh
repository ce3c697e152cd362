#!/bin/sh
# remote desktop in the notebook
apt-get install -y xfce4 tightvncserver novnc websockify
vncserver :1 -geometry 1280x800
websockify --web /usr/share/novnc 6080 localhost:5901 &
cloudflared tunnel --url http://localhost:6080
