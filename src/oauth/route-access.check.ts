import { Injectable, type OnModuleInit } from '@nestjs/common';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { ACCESS_METADATA } from './access.decorators.js';

export interface RouteWithoutRule {
  readonly controller: string;
  readonly handler: string;
}

/**
 * Walks every controller route at start-up; one without an access rule (@Public(), @Scopes(), ...)
 * stops the application, so no route can be forgotten.
 */
@Injectable()
export class RouteAccessCheck implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    const missing = this.routesWithoutRule();
    if (missing.length > 0) {
      throw new Error(
        `Routes without an access rule (add @Public(), @Scopes(...) or another rule): ${missing.map((route) => `${route.controller}.${route.handler}`).join(', ')}`,
      );
    }
  }

  routesWithoutRule(): RouteWithoutRule[] {
    const missing: RouteWithoutRule[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (instance === undefined || wrapper.metatype === undefined || wrapper.metatype === null) continue;
      const prototype = Object.getPrototypeOf(instance) as object;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = (prototype as Record<string, unknown>)[name];
        if (typeof handler !== 'function') continue;
        const isRoute =
          Reflect.getMetadata(PATH_METADATA, handler) !== undefined && Reflect.getMetadata(METHOD_METADATA, handler) !== undefined;
        if (!isRoute) continue;
        const rule = this.reflector.getAllAndOverride(ACCESS_METADATA, [handler, wrapper.metatype]);
        if (rule === undefined) missing.push({ controller: wrapper.name, handler: name });
      }
    }
    return missing;
  }
}
