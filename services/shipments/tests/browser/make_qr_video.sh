#!/bin/sh
# Turns a QR label image (PNG) into a y4m video for Chromium's fake camera
# (--use-file-for-fake-video-capture=OUT.y4m), as tests/browser/scan.py uses.
#
#   make_qr_video.sh label.png out.y4m
#
# The image is scaled to fit 640x480 (never stretched), centred on white,
# 10 frames a second for 1 second (Chromium loops the file). A QR code needs
# its white quiet zone: labels from the service have one; the white padding
# here adds more. Needs Debian's ffmpeg.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 label.png out.y4m" >&2
    exit 2
fi
command -v ffmpeg >/dev/null 2>&1 || {
    echo "$0: ffmpeg is missing (apt-get install ffmpeg)" >&2
    exit 1
}

exec ffmpeg -hide_banner -loglevel error -y \
    -loop 1 -i "$1" -t 1 -r 10 \
    -vf "scale=640:480:force_original_aspect_ratio=decrease:flags=neighbor,pad=640:480:(ow-iw)/2:(oh-ih)/2:white,format=yuv420p" \
    -f yuv4mpegpipe "$2"
