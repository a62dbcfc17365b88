/**
 * MLflow's error shape for `trove server`: the error class, its HTTP statuses, and the JSON replies.
 * Its own module so that the routes can use it without importing server.ts (which imports the routes).
 */
import type http from 'node:http';
import { TroveError } from '../core/errors.js';

/** MLflow's error codes and the HTTP status each one is sent with. */
export const MLFLOW_STATUS: Record<string, number> = {
  INVALID_PARAMETER_VALUE: 400,
  MALFORMED_REQUEST: 400,
  BAD_REQUEST: 400,
  RESOURCE_ALREADY_EXISTS: 400,
  INVALID_STATE: 400,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  UNSUPPORTED_MEDIA_TYPE: 415,
  MISDIRECTED_REQUEST: 421,
  REQUEST_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
};

export class MlflowError extends Error {
  constructor(readonly errorCode: keyof typeof MLFLOW_STATUS | string, message: string) {
    super(message);
  }
  get status(): number {
    return MLFLOW_STATUS[this.errorCode] ?? 500;
  }
}

/** A TroveError from core, as the MLflow error a client expects. */
export function toMlflowError(err: unknown): MlflowError {
  if (err instanceof MlflowError) return err;
  if (err instanceof TroveError) {
    if (err.code === 'NOT_FOUND') return new MlflowError('RESOURCE_DOES_NOT_EXIST', err.message);
    if (err.data?.exists) return new MlflowError('RESOURCE_ALREADY_EXISTS', err.message);
    if (['BAD_ARGS', 'PARAM_CONFLICT', 'BAD_QUERY', 'PATH_OUTSIDE_REPO', 'NOT_IN_RUN'].includes(err.code)) return new MlflowError('INVALID_PARAMETER_VALUE', err.message);
    return new MlflowError('INTERNAL_ERROR', err.message);
  }
  return new MlflowError('INTERNAL_ERROR', 'internal error in trove server; see its log');
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: http.ServerResponse, e: MlflowError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { error_code: e.errorCode, message: e.message });
}
