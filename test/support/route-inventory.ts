import { Injectable, Module, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryModule, DiscoveryService, HttpAdapterHost, MetadataScanner, Reflector } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { ACCESS_METADATA, type AccessRule } from '../../src/oauth/access.decorators.js';

/** A route as the HTTP server serves it: `GET /v1/payment-intents/:id`. */
export interface ServedRoute {
  readonly method: string;
  readonly path: string;
}

/** A route a controller declares, with the access rule the global guard enforces on it. */
export interface DeclaredRoute extends ServedRoute {
  readonly controller: string;
  readonly handler: string;
  readonly rule: AccessRule | undefined;
}

function joinPath(...parts: readonly string[]): string {
  const joined = `/${parts.join('/')}`.replace(/\/+/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

function pathsOf(metadata: unknown): string[] {
  if (Array.isArray(metadata)) return metadata.map(String);
  return [typeof metadata === 'string' ? metadata : ''];
}

/**
 * Records every route the application registers with Fastify (its own controllers, and whatever a
 * plugin such as the OpenAPI document adds), and reads every controller route with its access rule.
 * Mount it with `startTestApp({ extraModules: [RouteInventoryModule] })`: it hooks Fastify's
 * `onRoute` while the application is being built, before any route exists, so none is missed.
 */
@Injectable()
export class RouteInventory {
  private readonly served: ServedRoute[] = [];

  constructor(
    adapterHost: HttpAdapterHost,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {
    const fastify = adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) this.served.push({ method: String(method).toUpperCase(), path: route.url });
    });
  }

  /** Every route Fastify serves, but the HEAD twin Fastify adds beside each GET (same handler, same guard). */
  servedRoutes(): ServedRoute[] {
    const gets = new Set(this.served.filter((route) => route.method === 'GET').map((route) => route.path));
    return this.served.filter((route) => !(route.method === 'HEAD' && gets.has(route.path)));
  }

  declaredRoutes(): DeclaredRoute[] {
    const routes: DeclaredRoute[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as object | undefined;
      if (instance === undefined || wrapper.metatype === undefined || wrapper.metatype === null) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const methodPaths = Reflect.getMetadata(PATH_METADATA, handler) as unknown;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (methodPaths === undefined || method === undefined) continue;
        const rule = this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_METADATA, [handler, wrapper.metatype]);
        for (const controllerPath of pathsOf(Reflect.getMetadata(PATH_METADATA, wrapper.metatype))) {
          for (const methodPath of pathsOf(methodPaths)) {
            routes.push({
              method: RequestMethod[method],
              path: joinPath(controllerPath, methodPath),
              controller: wrapper.name,
              handler: name,
              rule,
            });
          }
        }
      }
    }
    return routes;
  }
}

@Module({ imports: [DiscoveryModule], providers: [RouteInventory] })
export class RouteInventoryModule {}
