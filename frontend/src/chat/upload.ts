// Uploads one file to a room (POST /api/rooms/{id}/files, the raw bytes) with
// XMLHttpRequest, whose upload events give a progress bar (fetch has none).
import { ApiError } from "../api";
import type { FileInfo } from "../types";

export function uploadFile(room: number, file: File, onProgress: (loaded: number, total: number) => void): Promise<FileInfo> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/rooms/${room}/files?name=${encodeURIComponent(file.name)}`);
    // Not a form or text/plain: the server refuses those (a cross-site page could send them).
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let data: unknown;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = undefined;
      }
      if (xhr.status === 201) return resolve(data as FileInfo);
      const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
      reject(new ApiError(xhr.status, err?.code ?? "http_" + xhr.status, err?.message ?? `Upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "Cannot reach the server. Check your connection."));
    xhr.send(file);
  });
}

/** "48 KB", "1.2 MB". */
export function sizeText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** An image's box in the log: at most 320×240, its aspect ratio kept, reserved before it loads. */
export function imageBox(w: number, h: number): { width: number; height: number } {
  const k = Math.min(1, 320 / w, 240 / h);
  return { width: Math.max(1, Math.round(w * k)), height: Math.max(1, Math.round(h * k)) };
}
