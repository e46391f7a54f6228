/**
 * What the BCC reboot and read calls share on the wire: the region host, the content type, Baidu's error body and
 * how its request id and messages are reported.
 */
import { z } from 'zod';
import type { HttpResponse } from '../http.js';

// Region codes are short (bj, gz, fwh…); anything else could smuggle a different host into the URL.
const REGION = /^[a-z][a-z0-9-]{0,31}$/;

/** Base URL for a region: https://bcc.<region>.baidubce.com, or the override's scheme, host and port. */
export function baiduEndpoint(region: string, override?: string): string {
  if (override !== undefined && override !== '') return new URL(override).origin;
  if (!REGION.test(region)) throw new Error(`invalid Baidu region "${region}"`);
  return `https://bcc.${region}.baidubce.com`;
}

/** bce-sdk-go bce/client.go sets this when a request has none. */
export const CONTENT_TYPE = 'application/json;charset=utf-8';
const MAX_MESSAGE = 500;

/** Baidu's error body, https://cloud.baidu.com/doc/BCC/s/Ojwvyo6nc: {requestId, code, message}. */
export const ErrorBody = z.object({
  requestId: z.string().optional(),
  code: z.string().min(1),
  message: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The body's request id, else the x-bce-request-id header; an empty one counts as none. */
export function requestIdOf(res: HttpResponse, fromBody?: string): string | undefined {
  return (fromBody ?? res.headers['x-bce-request-id']) || undefined;
}

export function truncate(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}
