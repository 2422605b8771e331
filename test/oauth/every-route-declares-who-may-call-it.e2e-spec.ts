import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Post } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Public, Scopes } from '../../src/oauth/access.decorators.js';
import { RouteAccessCheck } from '../../src/oauth/route-access.check.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { expectProblem } from '../support/oauth.js';

/** The routes anyone may call without a token. A route added here is a deliberate decision. */
const PUBLIC_OPERATIONS = ['GET /health/live', 'GET /health/ready', 'POST /v1/users'];

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly secured: boolean;
}

@Controller('forgotten')
class ForgottenController {
  @Get()
  list(): string[] {
    return [];
  }

  @Post()
  @Public()
  create(): void {}
}

@Controller('guarded')
@Scopes('admin')
class GuardedController {
  @Get()
  list(): string[] {
    return [];
  }
}

describe('every route declares who may call it', () => {
  let t: TestApp;
  let operations: Operation[];

  beforeAll(async () => {
    t = await startTestApp();
    const document = (await t.http().get('/openapi.json')).body as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        secured: Array.isArray(operation.security) && operation.security.length > 0,
      })),
    );
  });
  afterAll(async () => {
    await t.close();
  });

  it('has an access rule on every route of the running application', () => {
    expect(t.app.get(RouteAccessCheck).routesWithoutRule()).toEqual([]);
  });

  it('finds a route without a rule, and refuses to start with one', async () => {
    const module = await Test.createTestingModule({
      imports: [DiscoveryModule],
      controllers: [ForgottenController, GuardedController],
      providers: [RouteAccessCheck],
    }).compile();
    expect(module.get(RouteAccessCheck).routesWithoutRule()).toEqual([{ controller: 'ForgottenController', handler: 'list' }]);
    await expect(module.init()).rejects.toThrow(/ForgottenController\.list/);
  });

  it('documents a token requirement on every route but the deliberately public ones', () => {
    expect(operations.length).toBeGreaterThanOrEqual(8);
    expect(
      operations
        .filter((operation) => !operation.secured)
        .map((operation) => `${operation.method} ${operation.path}`)
        .sort(),
    ).toEqual([...PUBLIC_OPERATIONS].sort());
  });

  it('answers every documented protected route called without a token, or with a bad one, with 401 (never 2xx, never 5xx)', async () => {
    const secured = operations.filter((operation) => operation.secured);
    expect(secured.length).toBeGreaterThanOrEqual(5);
    for (const operation of secured) {
      const path = operation.path.replace(/\{[^}]+\}/g, randomUUID());
      for (const authorization of [undefined, 'Bearer not.a.token']) {
        let request = t
          .http()
          [operation.method.toLowerCase() as 'get' | 'post' | 'delete' | 'put' | 'patch'](path)
          .set('Idempotency-Key', randomUUID());
        if (authorization !== undefined) request = request.set('Authorization', authorization);
        const response = ['POST', 'PUT', 'PATCH'].includes(operation.method) ? await request.send({}) : await request;
        expect({ operation: `${operation.method} ${operation.path}`, authorization, status: response.status }).toEqual({
          operation: `${operation.method} ${operation.path}`,
          authorization,
          status: 401,
        });
        expectProblem(response, 401, authorization === undefined ? 'TOKEN_MISSING' : 'TOKEN_INVALID');
        expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
      }
    }
  });

  it('answers the public routes without a token, and never with a server error', async () => {
    for (const operation of operations.filter((item) => !item.secured)) {
      const request = t.http()[operation.method.toLowerCase() as 'get' | 'post'](operation.path);
      const response = operation.method === 'POST' ? await request.send({}) : await request;
      expect({
        operation: `${operation.method} ${operation.path}`,
        unauthorized: response.status === 401 || response.status === 403,
      }).toEqual({
        operation: `${operation.method} ${operation.path}`,
        unauthorized: false,
      });
      expect(response.status).toBeLessThan(500);
    }
  });
});
